// Package amqp publishes gateway events through RabbitMQ, for a gateway in
// AMQP mode (see [the protocol], "AMQP mode").
//
// In AMQP mode the gateway declares the durable topic exchange "sse.events"
// (with RABBITMQ_ENV_PREFIX p: "p.sse.events"). When a connect service
// answers with a request ID and routing keys, the gateway declares the
// queue sse.conn.<request ID>, binds it with each key and forwards what
// arrives to the browser stream. Any backend replica can then reach any
// browser, whichever gateway pod holds its stream:
//
//	// In the connect service (see package callback):
//	return amqp.Bindings(req.Params["request_id"], user, role)
//
//	// Anywhere, in any replica:
//	p, err := amqp.Dial(ctx, os.Getenv("RABBITMQ_URL"),
//		amqp.WithEnvPrefix(os.Getenv("RABBITMQ_ENV_PREFIX")),
//		amqp.WithLogger(logger))
//	if err != nil { ... }
//	defer p.Close()
//
//	ev := sseconn.Event{Name: "notification", Data: `{"text":"hi"}`}
//	err = p.PublishToSubject(ctx, "alice", ev)
//	switch {
//	case errors.Is(err, amqp.ErrNotConnected):
//		// the broker is unreachable; the publisher is reconnecting
//	case errors.Is(err, amqp.ErrUnconfirmed):
//		// the message may or may not have been routed
//	}
//
// The routing keys are [ConnectionKey] ("connection.<request ID>", one
// browser stream), [SubjectKey] ("subject.<user>", every stream of a user),
// [RoleKey] ("role.<role>") and [BroadcastKey] ("broadcast"). The message
// body is {"event":"<name>","data":"<data>"}; the gateway formats it
// exactly like an /internal/send event, and the queue keeps it while the
// browser reconnects (for the gateway's RABBITMQ_QUEUE_TTL_MS).
//
// # Several replicas: Bus
//
// [NewBus] returns a [Bus], the RabbitMQ implementation of the interfaces of
// package bus through which package task and package version work across
// backend replicas: task.WithBus(b) and version.WithGateway(b.Gateway()).
// Replicas exchange messages on the exchange "ssegate.replicas" (with the
// prefix: "<prefix>.ssegate.replicas"), each through a queue of its own
// that the broker deletes when the replica's connection ends. [Bus.Keep]
// declares a browser's queue sse.conn.<request ID> with exactly the
// gateway's arguments, so the queue TTL must be the gateway's
// RABBITMQ_QUEUE_TTL_MS ([WithQueueTTL], 300000 ms by default). The
// repository's docs/scale-out.md describes the message flows. Package
// amqptest puts gatewaytest's gateway in AMQP mode on a real broker.
//
// # Delivery
//
// Every publish waits for the broker's publisher confirm, bounded by the
// context and [WithSendTimeout] (2 s by default). The messages are
// persistent. A publish to a key that no queue is bound with is confirmed
// and dropped by the broker: that is the normal case of a browser that is
// not connected, and not an error unless [WithMandatory] asks for
// [ErrUnroutable].
//
// # Reconnection
//
// A supervisor goroutine watches the connection and its channel. When
// either is lost, publishes fail at once with [ErrNotConnected] (never a
// silent drop) and the supervisor redials with exponential backoff and
// jitter ([WithBackoff]), opens a new channel in confirm mode and declares
// the exchange again. [Publisher.Connected] and [WithStateHook] report the
// state. The first connection, in [Dial], is not retried.
//
// # Concurrency
//
// A [Publisher] is safe for concurrent use. One lock serializes the writes
// of messages to the channel, as amqp091 needs for its confirm bookkeeping;
// it is not held while a publish waits for its confirm, so concurrent
// publishes share the round trip to the broker. [Publisher.Close] waits for
// the publishes in flight, stops the supervisor and closes the connection;
// the publisher leaves no goroutine behind.
//
// # Errors
//
// [Dial] fails with an error wrapping [ErrInvalidConfig], before any I/O,
// for an invalid URL or option, every problem joined.
//
// [Publisher.Publish] and its siblings return the error of
// [sseconn.Event.Validate] (wrapping [sseconn.ErrInvalidEvent]) or
// [ErrInvalidKey] before any I/O; [ErrNotConnected], [ErrBlocked] (the
// broker is short of memory or disk) and [ErrClosed] at once, with nothing
// published; [ErrNacked] and [ErrUnroutable] for a message the broker
// did not route; [ErrUnconfirmed], wrapping the cause, when the confirm did
// not arrive; and wrapped context errors. [Dial] returns errors that name
// the broker URL with its password masked and wrap the cause, such as a
// *net.OpError or an *amqp091.Error.
//
// # Observability
//
// With [WithMeterProvider] and [WithTracerProvider] (the globals by
// default) the publisher records, under the scope
// "github.com/ssegate/ssegate/sseconn/amqp":
//
//   - ssegate.amqp.publishes: a counter of publishes by route and outcome
//     (ok, unroutable, nacked, unconfirmed, not_connected, blocked, invalid,
//     canceled, closed, error);
//   - ssegate.amqp.publish.duration: a histogram of the time from writing
//     a message to its confirm (or to giving up on it), in seconds, by
//     route;
//   - ssegate.amqp.connection.losses and ssegate.amqp.reconnects (by
//     outcome): counters;
//   - one producer span per publish, "publish <exchange>".
//
// The route attribute is the kind of the routing key: "connection",
// "subject", "role", "broadcast" or "other", never the key itself, so
// cardinality stays bounded and no identifier is recorded. The publisher
// logs nothing unless given a logger ([WithLogger]) and never logs the
// broker's password.
//
// [the protocol]: https://github.com/ssegate/ssegate/blob/main/docs/protocol.md
package amqp
