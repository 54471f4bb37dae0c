// Package amqptest puts a [gatewaytest.Server] in the gateway's AMQP mode
// on a real RabbitMQ broker.
//
// gatewaytest does not depend on an AMQP client; it takes the broker side
// of the AMQP mode through [gatewaytest.WithBroker]. [WithAMQP] returns that
// option backed by RabbitMQ, behaving like the reference gateway: the topic
// exchange "sse.events" (with an environment prefix, "<prefix>.sse.events"),
// the queue sse.conn.<request_id> declared durable, not exclusive, not
// auto-delete, with x-expires = the queue TTL, bound with each routing key
// of the connect answer, consumed with a prefetch of 10; messages that
// waited in the queue are written before the ready event; a body that does
// not parse as {"event","data"} is dropped; a message for a stream that is
// gone is dropped (nacked without requeue):
//
//	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback",
//		amqptest.WithAMQP("amqp://guest:guest@127.0.0.1:5672/", 0,
//			amqptest.WithEnvPrefix("test-42")))
//	defer gw.Close()
//
// One difference from the reference gateway: each stream consumes on a
// channel of its own, so a failed queue setup ends that stream only, where
// the reference gateway drops its shared channel and re-creates every
// consumer. A lost broker connection ends every stream in AMQP mode with a
// disconnect callback of reason error; the reference gateway reconnects
// and keeps them.
package amqptest
