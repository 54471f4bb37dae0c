// Package callback implements the backend side of a callback-style SSE
// gateway's connect and disconnect callbacks (shared/PROTOCOL.md sections 2
// and 5): an [http.Handler] that authenticates the gateway, decodes and
// validates the callback, routes it by the browser's URL to a [Service], and
// answers with the status the gateway expects.
//
// A [Matcher] turns the browser's URL into an identifier "kind:value", for
// example "task:42"; the package provides [Path], [Query] and [Prefix], and
// [MatcherFunc] adapts a function. Routes are tried in order.
//
// Usage:
//
//	h, err := callback.NewHandler(
//		callback.WithSecret(os.Getenv("SSE_CALLBACK_SECRET")),
//		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), tasks),
//		callback.WithRoute(callback.Query("version", "/api/sse/utils/version", "request_id"), versions),
//		callback.WithLogger(logger),
//	)
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("POST /api/sse/callback", h)
//	srv := &http.Server{Addr: ":8080", Handler: mux}
//	// ... on shutdown, refuse new browsers first, then stop the server:
//	_ = h.Shutdown(ctx)
//	_ = srv.Shutdown(ctx)
//
// The gateway is then started with
// CALLBACK_URL=http://backend:8080/api/sse/callback?secret=<the secret>.
//
// [NewRegistrar] is the service of the basic integration: it registers each
// browser's stream in a connection manager such as *sseconn.Manager under
// the identifier its route matched, and unregisters it on disconnect.
//
// A service answers a connect with nil (the gateway receives {}) or, in the
// gateway's AMQP mode, with a [ConnectResponse] carrying request_id and
// bindings, and refuses a browser by returning [Reject] with a 4xx status.
//
// # Authentication
//
// The handler fails closed: [NewHandler] refuses a configuration without
// [WithSecret], [WithAuthenticator] or the explicit [WithInsecureNoAuth]. The
// shared secret is read from the "secret" query parameter of the callback
// request, which is how the gateway's CALLBACK_URL carries it, or from the
// header [DefaultSecretHeader] (see [WithSecretHeader]). It is compared in
// constant time and never logged. A missing or wrong secret answers 401.
//
// # Concurrency
//
// A [Handler] is safe for concurrent use; services and matchers are called
// concurrently and must be safe for that too. [Handler.Shutdown] makes later
// connects answer 503 (disconnects are still handled) and waits for the
// callbacks in flight. The handler starts no goroutine.
//
// # Errors
//
// [NewHandler] returns an error for an invalid configuration. At request
// time, every answer is JSON; errors look like
// {"error":"invalid request.url","details":{"param":"id","reason":"is empty"}}.
// A connect that matches no route answers 400, a disconnect that matches no
// route answers 200 and is otherwise ignored. A [*Rejection] answers its
// status; any other service error, and a panic, answer 500 with the generic
// body {"error":"internal error"}, and the details go to the log only. See
// [Handler.ServeHTTP] for the full list.
//
// # Observability
//
// With [WithTracerProvider], each decoded callback gets a server span named
// "callback.connect" or "callback.disconnect". A W3C traceparent (and
// tracestate) that the browser sent, and the gateway forwarded in the
// callback's request.headers, is the span's parent, so the callback joins the
// browser's trace; a span already in the request's context is then linked.
// With [WithMeterProvider], the counter ssegate.callback.requests and the
// histogram ssegate.callback.duration (seconds) are recorded with the
// attributes action, outcome (accepted, unmatched, rejected, invalid,
// unauthorized, too_large, method_not_allowed, unavailable, error, panic)
// and kind, the identifier's part before ':' (never the identifier).
// The instrumentation scope is "github.com/ssegate/ssegate/callback".
//
// With [WithLogger], one record is logged per request. It holds the action,
// outcome, status, duration, identifier, the path of the browser's URL
// (never its query), the disconnect reason and the error (with the stack of
// a recovered panic), but never the stream's token, the secret, the callback
// request's URL or any header value, so cookies and Authorization never
// reach the log.
package callback
