// Package bus defines how package task and package version reach other
// backend replicas and the queues of a gateway in AMQP mode, without
// depending on an AMQP client.
//
// The root module of ssegate has no AMQP dependency. Package sseconn/amqp,
// a module of its own, implements both interfaces of this package with
// RabbitMQ (amqp.NewBus); a test may implement them in memory. A
// deployment switches task and version from HTTP mode to AMQP mode with
// options (task.WithBus, version.WithGateway), not code. docs/scale-out.md
// describes the message flows.
//
// [Bus] carries messages between the replicas of one backend: a replica
// binds routing keys, and a message published with a key reaches every
// replica that bound it. [Bus.Request] also reports a key that no replica
// bound ([ErrNoRoute]), which is how a replica learns that nobody holds a
// task.
//
// [Gateway] reaches browsers through the gateway's exchange and its
// per-connection queues sse.conn.<request_id>. [ConnectionKey],
// [SubjectKey] and [BroadcastKey] build the routing keys the gateway binds.
package bus
