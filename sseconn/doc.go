// Package sseconn is the connection manager of a backend that sits behind a
// callback-style SSE gateway.
//
// The gateway holds the browsers' Server-Sent Events streams and names each
// one by a random token. A [Manager] maps stable identifiers of the form
// "kind:value", such as "task:42", to those tokens, and sends events to them
// through the gateway's POST /internal/send, so that application code never
// handles a token:
//
//	m, err := sseconn.New("http://127.0.0.1:3000",
//		sseconn.WithLogger(logger),
//		sseconn.WithSweepInterval(time.Minute))
//	if err != nil { ... }
//	defer m.Shutdown(context.Background())
//
//	// In the connect callback (callback.NewRegistrar(m) does both):
//	err = m.Register(ctx, "task:42", token)
//	// In the disconnect callback:
//	m.Unregister(token)
//
//	// Anywhere:
//	err = m.Send(ctx, "task:42", sseconn.Event{Name: "task_event", Data: `{"progress":0.5}`})
//	switch {
//	case errors.Is(err, sseconn.ErrNotConnected), errors.Is(err, sseconn.ErrGone):
//		// no browser is listening; keep the event for later
//	}
//
// Registering a second token for an identifier replaces the first stream: the
// old token is closed at the gateway, and its late disconnect callback does
// not remove the new mapping. A 404 from the gateway removes a mapping only
// if it still holds the token the send used.
//
// # Transport
//
// Sends go through a [Doer], by default a go-retryablehttp client over a
// pooled keep-alive transport ([NewDoer]). It retries only what provably
// never reached the gateway: a failed dial, and a 502 or 503 that is not the
// gateway's JSON answer. The gateway does not deduplicate, so nothing else is
// ever retried. Each send is bounded by [WithTimeout] (2 s by default, well
// inside the gateway's 5 s callback timeout).
//
// # Concurrency
//
// A Manager is safe for concurrent use. Sends to one identifier reach the
// gateway in the order the calls were made, even from several goroutines; a
// close is ordered after every send before it. Sends to different
// identifiers run in parallel: a slow identifier never delays another. One
// mutex guards the identifier and token maps and is never held during I/O.
//
// Two things outlive the call that started them: the sweeper goroutine of
// [WithSweepInterval], and the close of a stream that [Manager.Register]
// replaced, which runs in the background so that a slow gateway cannot
// delay the new stream's connect callback. [Manager.Shutdown] stops the
// sweeper and waits for those closes and for in-flight sends.
//
// # Errors
//
// [Manager.Send] and its siblings return [ErrInvalidEvent] or [ErrTooLarge]
// before any I/O, [ErrNotConnected] when there is no mapping, [ErrGone]
// when the gateway no longer knows the token, [*GatewayError] for other
// non-2xx answers, [ErrShutdown], and wrapped context and transport errors.
// All of them work with [errors.Is] and [errors.As].
//
// # Observability
//
// With [WithMeterProvider] and [WithTracerProvider] (the globals by
// default) the manager records, under the scope
// "github.com/ssegate/ssegate/sseconn":
//
//   - ssegate.connections.connects, .disconnects (by reason) and
//     .replacements: counters;
//   - ssegate.connections.active: an up-down counter that always equals the
//     number of live mappings;
//   - ssegate.events: a counter of sends by op and outcome (ok, buffered,
//     not_connected, gone, invalid, gateway_error, transport_error, canceled,
//     shutdown);
//   - ssegate.send.duration: a histogram of send latency in seconds;
//   - one client span per send, close, probe and replacement close.
//
// Metric attributes carry the identifier's kind ("task" for "task:42"),
// never the identifier itself, so cardinality stays bounded. The manager
// logs nothing unless given a logger ([WithLogger]), and never logs tokens.
package sseconn
