// Package ssegate is the Go backend half of a callback-style SSE gateway.
//
// Three parties take part:
//
//   - the browser opens an EventSource on the gateway, for example
//     GET /api/sse/tasks?task_id=42;
//   - the gateway, a sidecar, owns the stream. It names it by a random token
//     and asks the backend over HTTP what to do: a connect callback when the
//     browser arrives, a disconnect callback when it leaves;
//   - the backend (your program, with this module) answers the callbacks and
//     later pushes events to a token with POST /internal/send.
//
// The module's packages:
//
//   - [github.com/ssegate/ssegate/sseconn]: the connection manager. It maps
//     identifiers such as "task:42" to tokens and sends events in order,
//     with typed errors, safe retries, metrics and traces;
//   - [github.com/ssegate/ssegate/sseconn/gatewaytest]: an in-process,
//     protocol-faithful gateway for tests;
//   - [github.com/ssegate/ssegate/callback]: the http.Handler for the
//     gateway's callbacks, with route matchers and fail-closed auth;
//   - [github.com/ssegate/ssegate/task] and
//     [github.com/ssegate/ssegate/version]: adapters that stream task
//     progress and version notifications without losing events to timing;
//   - [github.com/ssegate/ssegate/tab]: one stream per browser tab, which
//     carries the events of every task of the tab (or of its user, or of
//     everyone) and the version events.
//
// The module github.com/ssegate/ssegate/sseconn/amqp, a module of its own so
// that only scale-out users depend on a RabbitMQ client, publishes events
// through RabbitMQ to a gateway in AMQP mode.
//
// The protocol between browser, gateway and backend, and what this module
// relies on in it, is described in [the protocol].
//
// Wiring, in short:
//
//	mgr, err := sseconn.New("http://127.0.0.1:3000") // the gateway
//	if err != nil { ... }
//	defer mgr.Shutdown(ctx)
//
//	tasks, err := task.New(mgr)
//	if err != nil { ... }
//	defer tasks.Shutdown(ctx)
//
//	cb, err := callback.NewHandler(
//		callback.WithSecret(os.Getenv("SSE_CALLBACK_SECRET")),
//		callback.WithRoute(tasks.Matcher(), tasks),
//	)
//	if err != nil { ... }
//	mux := http.NewServeMux()
//	mux.Handle("POST /api/sse/callback", cb)
//
//	info, err := tasks.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
//		p.Report("halfway", 0.5)
//		return map[string]int{"answer": 42}, nil
//	})
//	// The browser opens EventSource(gateway + info.StreamURL).
//
// The gateway is started with CALLBACK_URL pointing at the callback route,
// for example http://backend:8080/api/sse/callback?secret=s3cr3t.
//
// [the protocol]: https://github.com/ssegate/ssegate/blob/main/docs/protocol.md
package ssegate
