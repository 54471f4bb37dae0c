// Package frontendtest plays the two generations of the real frontend that
// users of this library run in their browsers (the ElectronicsInventory
// UI), against a gateway, so that tests can show what such a page does
// with the streams a backend produces: whether it stops, what it shows, and
// how often it reconnects.
//
//   - A [Page] is the generation-1 page: one EventSource per task at the
//     task's stream URL, listening for the named event task_event (or, on a
//     generation-2 gateway, reading the same messages from onmessage
//     envelopes). It closes only after task_completed or task_failed. After
//     an error status it reconnects about every second, forever; after a 200
//     stream that ends, the browser's EventSource reconnects about 3 s
//     later. [Page.Run] follows one task until the page closes its stream
//     or has connected [Page.MaxConnects] times.
//   - A [Worker] is the generation-2 tab worker: one long-lived EventSource
//     at /api/sse/stream?request_id=<tab>, reading every message in
//     onmessage as the generation-2 envelope {"type","payload"}, closing
//     for good on a named connection_close, and reconnecting with
//     exponential backoff (1 s, doubling up to 60 s, reset when a stream
//     opens) after any error. Its [WorkerState] filters task_event
//     messages by task_id. Like the real worker, it reads nothing but
//     connection_close from a generation-1 gateway, whose events are named.
//
// Both open streams through a [Dialer]: [Gateway] dials a
// gatewaytest.Server over loopback, [HTTP] any gateway by its URL (the
// reference gateway, say), reading events with the repository's SSE
// parser. Their waits are the real clients'
// waits scaled down ([TestDelays]) unless set, so that tests stay fast;
// every wait is recorded, so that tests compare reconnect schedules
// without timing anything.
//
// # Concurrency
//
// [Page.Run] runs on the caller's goroutine; a Page must not be run twice
// at once. A [Worker]'s methods are safe for concurrent use: [Worker.Start]
// runs it on a goroutine of its own, which [Worker.Stop] ends and waits
// for.
//
// # Errors
//
// [Page.Run] returns [ErrStillReconnecting] when the page has connected
// MaxConnects times without closing its stream: a page that spins, and
// ctx.Err() when the context ends first. [Worker.Start] fails for a nil
// Dial or a second Start; [Worker.Wait] returns ctx.Err() when the context
// ends before its condition holds.
package frontendtest
