// Package version notifies browsers of application versions over a
// callback-style SSE gateway: "a new version is out, reload", with pending
// events kept for browsers that are not connected yet and flushed when they
// connect.
//
// A browser opens
//
//	new EventSource("/api/sse/utils/version?request_id=" + requestID)
//
// on the gateway. Its connection identifier is "version:<request_id>". The
// backend mounts a [Notifier] as a route of its callback handler, and
// notifies one browser by request id or every connected browser at once:
//
//	mgr, err := sseconn.New("http://127.0.0.1:3000")
//	...
//	src, err := version.NewHTTPSource("https://static.example.com/app/version.json")
//	...
//	notifier, err := version.New(mgr, src)
//	...
//	h, err := callback.NewHandler(
//		callback.WithSecret(secret),
//		callback.WithRoute(notifier.Matcher(), notifier),
//	)
//	...
//	mux.Handle("POST /api/sse/callback", h)
//
//	// One browser (sent now, or kept until it connects):
//	d, err := notifier.Notify(ctx, requestID, version.Info{Version: "2.1.0"})
//	// Every connected browser, for example after a deploy:
//	deliveries, err := notifier.Broadcast(ctx, version.Info{Version: "2.1.0", Changelog: "..."})
//
// # Events
//
// Every event has the SSE name "version" ([EventName]) and JSON data
//
//	{"version":"2.1.0","changelog":"New editor"}
//
// with "changelog" omitted when empty: an [Info], the same shape as the
// version.json file that [HTTPSource] reads (see [ParseInfo]). A
// generation-2 gateway wraps it as {"type":"version","payload":{...}}.
//
// When the [Source] fails on connect, the browser gets
//
//	{"version":"unknown","error":"<reason>"}
//
// and the connect still succeeds. The reason is one of "timeout",
// "canceled", "version.json answered status <code>", "invalid version.json",
// "version.json too large" or "version source unavailable". It never carries
// URLs, addresses or other details of the error, which are logged instead.
//
// # One stream per tab
//
// A page that holds one stream per browser tab (package tab) gets version
// events on that stream: mount the tab hub with
// tab.WithGreeter([Greeter](src)) so that every tab gets the current
// version when it connects, and send a new one to every tab with
// hub.Send(ctx, tab.Broadcast(), ev), ev from [Event]. The Notifier is not
// needed for that.
//
// # Delivery and ordering
//
// [Notifier.Notify] sends at once if the browser is connected and otherwise
// keeps the event pending; its [Delivery] says which (Delivered or Pending).
// On connect, [Notifier.Connect] registers the stream and sends the pending
// events in order; an event whose send fails stays pending, in order and
// with the events after it, for the next connect (or the next Notify that
// finds the browser connected). With nothing pending, Connect sends the
// current version from the Source. Sends made during the connect callback
// are buffered by the gateway and delivered once the stream opens.
//
// The events of one request id are sent by one goroutine at a time: a Notify
// or Broadcast that arrives while a flush is in progress queues its event
// behind the flush and waits for the outcome. An event is therefore never
// lost between "pending" and "sent", and a browser never sees versions out
// of order. A browser that reconnects with the same request id replaces the
// old stream (the connection manager closes it) and gets the later events.
//
// # Duplicates
//
// Delivery is at least once: the gateway does not deduplicate, and a send
// whose answer never came may or may not have been written. A browser sees
// an event twice in exactly two cases, and in no other:
//
//   - Pending although written. A send that outlasts the send timeout
//     ([WithSendTimeout]) is abandoned, and the event stays pending: Notify
//     reports Pending with an Err matching context.DeadlineExceeded. If the
//     gateway handled the request all the same (it was merely slow), the
//     browser has the event, and the next flush (the next Notify or
//     Broadcast to that request id, or its next connect) sends it again,
//     before the newer events. It takes a gateway slower than the send
//     timeout, 2 s by default, against a reference gateway that answers in
//     about a millisecond; RELIABILITY.md gives the measured rates.
//   - The deliberate re-send on connect. If a send to the request id
//     succeeded while a new browser was registering with the same id, the
//     Notifier cannot tell whether it reached the stream being replaced or
//     the new one, so Connect re-sends that latest event to the new stream
//     instead of asking the Source (the connects metric counts it as
//     "resent"). The new browser thus sees it once or twice, and never
//     misses it.
//
// Both duplicates repeat the latest version a browser already has, so a
// page that compares the version with its own before reloading is
// unaffected.
//
// When every send of a connect fails (the gateway is slow or briefly
// down), the stream may still be open with nothing on it. The Notifier then
// retries in the background, 1 s, 2 s and 4 s later, as long as that stream
// is the request id's latest and nothing has reached it: a retry sends what
// is pending or, with nothing pending, the current version asked afresh from
// the Source. A retry that finds the stream gone stops. After the last
// retry the browser gets a version with the next Notify or Broadcast, or
// the current version on its next connect. Like any send, a retry that
// timed out may have been written: the "Pending although written" case
// above. With [WithGateway] (AMQP mode) there are no retries: events wait
// in the gateway's queue instead, and a failed send of the current version
// on connect is logged; the next Notify or Broadcast reaches the browser.
//
// # Memory
//
// Pending state is bounded three ways: at most [WithPendingLimit] events per
// request id (adding one more drops the oldest), at most
// [WithMaxPendingRequests] request ids (adding one more drops the pending
// events of the id notified least recently), and every event expires after
// [WithPendingTTL]. Expired events are removed whenever the Notifier is used
// (each call removes every request id whose events have all expired, in
// amortized constant time), so the Notifier needs no background goroutine
// and no Close. Dropped events are counted and logged. A connect retry
// (above) keeps its request id's record, a few dozen bytes, for the 16 s
// that its retries take at most by default; the pending events stay under
// the three bounds.
//
// # Concurrency
//
// [Notifier] and [HTTPSource] are safe for concurrent use and start no
// goroutines of their own, apart from the timers of connect retries, which
// end within 16 s by default (7 s of waits; each retry's Source call and
// send take 3 s at most). No lock is held while sending, fetching or logging. Each send
// is bounded by [WithSendTimeout] (2 s by default). On connect, asking the
// Source has a budget of its own ([WithConnectSourceTimeout], 1 s by default), so
// that a slow Source still leaves the send of "unknown" its whole timeout;
// the connect callback answers within about 3 s, inside the gateway's 5 s
// timeout.
//
// # Errors
//
// [New] and [NewHTTPSource] fail with an error wrapping [ErrInvalidConfig]
// for a nil argument or an invalid option, every problem joined.
//
// [Notifier.Notify] and [Notifier.Broadcast] return an error only for input
// that can never be sent: [ErrInvalidRequestID], [ErrInvalidInfo], or an
// event the connection manager rejects as invalid or too large; in AMQP
// mode also when the broker failed (the event is then dropped). A browser
// that is not connected is not an error: the Delivery is Pending, with an
// Err that matches sseconn.ErrNotConnected. [Delivery.Err] of a dropped event
// wraps [ErrDropped]. [HTTPSource.Current] returns [*StatusError],
// [ErrBodyTooLarge], errors wrapping [ErrInvalidInfo], and wrapped context
// and transport errors.
//
// # AMQP mode: several replicas
//
// With [WithGateway] (a bus.Gateway, such as sseconn/amqp's Bus.Gateway) and
// a gateway in AMQP mode, a backend may run several replicas: events travel
// through the gateway's queue of each browser, sse.conn.<request_id>, bound
// with the routing keys connection.<request_id> and broadcast.
//
//	b, err := amqp.NewBus(ctx, rabbitURL, amqp.WithQueueTTL(ttl)) // = RABBITMQ_QUEUE_TTL_MS
//	if err != nil { … }
//	defer b.Close()
//	notifier, err := version.New(conns, src, version.WithGateway(b.Gateway()))
//
// The Notifier then works as follows:
//
//   - Connect declares the browser's queue exactly as the gateway does and
//     answers with its request_id and bindings. If events wait in the
//     queue, the gateway delivers them, in order, before "ready";
//     otherwise the replica sends the current version by token.
//   - Notify, on any replica, declares the queue (so that the event waits
//     if the browser is not connected) and publishes to
//     connection.<request_id>. The Delivery is Delivered when a gateway
//     stream consumes the queue, Pending otherwise; an error from the
//     broker drops the event and is returned (wrapping [ErrDropped]).
//   - Broadcast, on any replica, publishes once to broadcast: every
//     browser whose queue exists receives it exactly once. It returns no
//     deliveries.
//
// Pending events wait in the queue until the browser connects or the queue
// expires (the gateway's queue TTL after it was last used); the limits of
// [WithPendingLimit], [WithMaxPendingRequests] and [WithPendingTTL] do not
// apply, and [Notifier.Pending] reports 0. A request id must not contain
// '.', '*' or '#' and is at most 240 bytes. One limit comes from the
// gateway: a message that reaches the consumer of a stream that has just
// ended (a reload, in the instant between the old stream's end and the
// cancel of its consumer) is dropped by the gateway.
//
// # Observability
//
// With [WithMeterProvider] (default: the global provider) the Notifier
// records, under the scope "github.com/ssegate/ssegate/version":
//
//   - ssegate.version.events: events by "op" (notify, broadcast) and
//     "status" (delivered, pending, dropped);
//   - ssegate.version.pending.dropped: pending events dropped, by "reason"
//     (limit, expired, evicted, invalid);
//   - ssegate.version.pending: events pending now (up-down counter);
//   - ssegate.version.connects: connects by what was "sent" first (flushed,
//     current, unknown, resent, handed_off).
//
// Metric attributes never carry request ids. With [WithTracerProvider]
// (default: the global provider) Notify, Broadcast and Connect each make an
// internal span, "version.notify", "version.broadcast" and
// "version.connect", the parent of the spans of the sends they make; the
// notify and connect spans carry the request id. Metrics are recorded with
// the caller's context. With [WithLogger] it logs dropped
// events and source failures at Warn level; without one it is silent.
package version
