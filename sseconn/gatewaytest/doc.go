// Package gatewaytest provides an in-process, protocol-faithful
// callback-style SSE gateway for tests, in the manner of
// [net/http/httptest].
//
// A [Server] is a real HTTP server on 127.0.0.1 that behaves like the
// reference gateway (see [the protocol]), generation 1 or 2:
//
//   - a GET on any path is a browser connecting: the gateway makes a token,
//     records the connection, POSTs the connect callback to the backend and
//     answers the browser as the backend's answer says (a stream, a
//     rejection, 504 GATEWAY_TIMEOUT, 503 BACKEND_UNAVAILABLE, …);
//   - POST /internal/send validates, buffers while the connect callback
//     runs, writes events framed for the generation, closes streams, and
//     answers 400, 404, 413 and 500 with the reference gateway's bodies;
//   - open streams get heartbeats, and a stream that ends gets a disconnect
//     callback with reason client_closed, server_closed or error;
//   - GET /healthz and GET /readyz answer as the reference gateway does.
//
// Its browser-visible behaviour is checked against the reference gateway, both
// generations, by TestRealGatewayConformance (internal/realgw), which runs
// one list of scenarios against both and compares the transcripts. That is
// how it knows the reference gateway's quirks: a send without an event made
// while the connect callback runs (a probe, a close) reaches the browser as
// an empty unnamed event when the stream opens; null is not an absent event,
// name or close but a 400; generation 2 quotes the name in its envelope as
// JSON.stringify does, writes the envelope (and a backend's rejected event)
// on one data line whatever LFs the data holds, and writes a backend's
// ready event as its fixed frame, without the data. Its AMQP mode is
// checked the same way by TestRealGatewayAMQPConformance (sseconn/amqp).
//
// On top of that it plays the browser ([Server.Connect], [Stream.Next]),
// and injects faults: refused TCP connections, slow or failing sends, dropped
// streams, lost disconnect callbacks and restarts.
//
// A test of a backend mounts the backend's callback handler on an
// httptest.Server and points a gateway at it:
//
//	backend := httptest.NewServer(callbackHandler)
//	defer backend.Close()
//	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret=s3cr3t",
//		gatewaytest.WithGeneration(2))
//	defer gw.Close()
//
//	st, err := gw.Connect(ctx, "/api/sse/tasks?task_id=42", nil)
//	// ... the backend sends to gw.URL + "/internal/send" ...
//	ev, err := st.Next(ctx) // "ready", then the backend's events
//	fmt.Println(ev.Unwrap().Name, ev.Unwrap().Data)
//
// # Concurrency
//
// Every method of [Server] and [Stream] is safe for concurrent use.
// POST /internal/send requests are handled one at a time, in arrival order,
// like the reference gateway. [Server.Close] ends every stream, aborts the
// connect callbacks in flight and waits for every goroutine the Server
// started, including disconnect callbacks already under way (each bounded by
// the callback timeout). Nothing outlives Close.
//
// # Errors
//
// [NewServer] panics with an error wrapping [ErrInvalidConfig] for an
// impossible option, every problem joined.
//
// The gateway's answers are HTTP answers, tested as such. [Server.Connect]
// returns an error only when there is no answer at all (connection refused,
// ctx done, [ErrClosed]); a refused connect is a [Stream] with its
// StatusCode and [Stream.Body]. [Stream.Next] returns io.EOF once the stream
// has ended and every event was read, or ctx.Err() when ctx is done first.
// NewServer panics on invalid options or when it cannot listen, like
// httptest.NewServer.
//
// # Observability
//
// A Server logs to the *slog.Logger of [WithLogger], and is silent without
// one. It never logs header values (so no cookie or Authorization value)
// nor the callback URL's query string, which may carry the shared secret.
//
// [the protocol]: https://github.com/ssegate/ssegate/blob/main/docs/protocol.md
package gatewaytest
