// Package task runs background tasks on a bounded worker pool and streams
// their progress to the browser that follows each of them, through a
// callback-style SSE gateway.
//
// A [Runner] starts a task with [Runner.Start], which returns at once with
// the task's id and the stream URL the browser opens on the gateway. The
// task function reports progress through a [Progress] handle. The runner
// is also the [callback.Service] of the task route: when the browser's
// stream connects, the runner registers it with the connection manager and
// replays the task's events; later events are sent live.
//
// Mounting it takes one route on the callback handler and one manager:
//
//	conns, err := sseconn.New("http://127.0.0.1:3000") // the gateway
//	if err != nil { … }
//	runner, err := task.New(conns)
//	if err != nil { … }
//	cb, err := callback.NewHandler(
//		callback.WithSecret(secret),
//		callback.WithRoute(runner.Matcher(), runner),
//	)
//	if err != nil { … }
//	mux.Handle("POST /api/sse/callback", cb)
//
//	// In an HTTP handler:
//	info, err := runner.Start(r.Context(), func(ctx context.Context, p *task.Progress) (any, error) {
//		for i := range 10 {
//			if err := step(ctx, i); err != nil {
//				return nil, err
//			}
//			p.Report(fmt.Sprintf("step %d of 10", i+1), float64(i+1)/10)
//		}
//		return map[string]string{"file": "report.pdf"}, nil
//	})
//	// Answer with info.ID and info.StreamURL; the page opens
//	// new EventSource(gatewayBase + info.StreamURL).
//
//	// On exit, in this order:
//	runner.Shutdown(ctx) // cancels tasks, sends their last events
//	cb.Shutdown(ctx)
//	conns.Shutdown(ctx)
//
// # Events
//
// Every event has the SSE name [EventName] ("task_event") and a JSON [Message]
// as data: {"event_type","task_id","timestamp","data"}, with the timestamp in
// RFC 3339, UTC, with milliseconds. A task's stream carries, in order:
//
//   - task_started, data {}, when a worker begins to run it;
//   - progress_update, data {"text","value"}, for each report, or only for
//     the latest when reports outpace the stream;
//   - exactly one terminal event: task_completed (data: the JSON-encoded
//     result) or task_failed (data {"error"} or {"error","code"}; see
//     [Failure]);
//   - connection_close, data {"reason"}, where the reason says why the
//     stream ends ("task_completed", "task_failed", "task_cancelled" or
//     "task_not_found"); it is sent with close, and the gateway ends the
//     stream.
//
// A task cancelled before it ran has no task_started. A cancelled task ends
// with task_failed, data {"error":"task cancelled","code":"CANCELLED"}, or
// with task_cancelled, data {}, under [WithCancelledEvent]. A stream opened
// for an unknown or expired task gets task_failed with data
// {"error":"task not found","code":"TASK_NOT_FOUND"}, then connection_close
// with reason "task_not_found".
//
// No event is lost to timing. Each task keeps a compacted log of at most
// four events: task_started, the latest progress_update (a new report
// replaces the previous one), the terminal event and connection_close. A
// browser that connects, or reconnects, gets that log replayed in order
// and then live events, so its view always begins with task_started and
// ends with one terminal event and connection_close. Progress values never
// decrease (see [Progress.Report]). One stream per task is live at a time:
// a new one replaces the old.
//
// A finished task and its log are kept for the retention period
// ([WithRetention], default 10 minutes), for [Runner.Get] and late
// browsers, and then dropped. Their number is capped too
// ([WithMaxFinished], default 10,000, about 15 MB with small results): a
// burst of short tasks drops the oldest finished ones early.
//
// A task_failed event's error text is cut to [MaxErrorBytes] of JSON. If
// the gateway still refuses the terminal event (a result over its body
// limit, with [WithMaxResultBytes] raised), the runner sends task_failed
// with the error "task result too large" instead, so that every stream
// ends with exactly one terminal event.
//
// # Clients
//
// However a task's stream ends, the page gets an event that tells it to
// stop, with a message to show: task_completed, or task_failed with
// "error" (and "code" for a cancelled [CodeCancelled] or unknown or expired
// [CodeNotFound] task), then connection_close. A page must close its
// EventSource then: a browser's EventSource reconnects by itself, about 3 s
// after a stream ends, and each reconnect replays the log and ends the
// stream again. A page that reloads within the retention period gets the
// same replay, so it still shows the result; later it gets "task not
// found". The contract, in full, for both gateway generations (generation
// 1 names every event task_event; generation 2 sends each one to onmessage
// as the envelope {"type":"task_event","payload":…}):
//
//	const es = new EventSource(gatewayBase + streamURL);
//	const stops = ['task_completed', 'task_failed', 'connection_close'];
//	const on = (m) => { show(m); if (stops.includes(m.event_type)) es.close(); };
//	es.addEventListener('task_event', (e) => on(JSON.parse(e.data)));
//	es.onmessage = (e) => { const v = JSON.parse(e.data); if (v.type === 'task_event') on(v.payload); };
//
// A cancelled task ends as task_failed with code CANCELLED by default
// because the frontend this library's users migrate from (the
// ElectronicsInventory UI, generation 1) closes its EventSource only on
// task_completed and task_failed. It ignores task_cancelled, so after a
// task_cancelled it reconnects, gets the replay, and reconnects again,
// every 3 s for as long as the tab stays open: load on the gateway and the
// backend that nobody sees in development, where tasks are rarely
// cancelled. The default is safe for every client; a page that wants to
// tell a cancellation from a failure reads data.code, and the
// connection_close reason says "task_cancelled" either way. Only a page
// that closes on task_cancelled or on connection_close should be paired
// with [WithCancelledEvent]. Unknown and expired tasks have no such option:
// task_failed is the only answer every client stops on. (Refusing the
// connect with an error status is worse: that page then reconnects every
// second.)
//
// # One stream per tab
//
// A page that holds one stream per browser tab (package tab) rather than
// one per task gets a task's events on that stream: make the runner
// [WithTabs](hub) and start the task with [For](audience), one of
// tab.To(requestID, subject) (the tab that started it), tab.ToSubject(subject)
// (every tab of its user) or tab.Broadcast() (every tab). Its events are
// the same task_events, with their task_id for the page to filter by, in
// the same order, except connection_close, which is not sent: the tab's
// stream stays open when the task ends. Such a task has no stream URL, and
// a stream opened on the task route for it is told it is not found. The
// hub keeps the events of a tab that is not connected and sends them when
// it connects; see package tab for its bounds and for AMQP mode.
//
// # Concurrency
//
// All methods of [Runner] and [Progress] are safe for concurrent use. At
// most [WithWorkers] task functions run at once; up to [WithQueueSize] more
// wait in a queue. Sends to the gateway happen on background goroutines,
// one per task at a time, never under a lock, each bounded by
// [WithSendTimeout]; a slow or absent browser never slows a task. Replays
// happen inside [Runner.Connect], within the callback's context.
// [Runner.Shutdown] cancels the tasks, waits for them and their last events,
// and stops every goroutine the runner started.
//
// # Errors
//
// [New] fails with an error wrapping [ErrInvalidConfig] for a nil Conn or an
// invalid option, every problem joined.
//
// [Runner.Start] returns [ErrQueueFull], [ErrShutdown] or [ErrNilFunc];
// [Runner.Cancel] and [Runner.Wait] return [ErrNotFound]. A failed send
// never fails a task. When the stream is gone ([sseconn.ErrGone],
// [sseconn.ErrNotConnected]) delivery stops until the browser connects
// again. After an error that may pass (a timeout, a 5xx answer) delivery
// resumes from the same event on the next event, the next connect, or after
// a backoff of 250 ms that doubles up to 30 s, whichever comes first; an
// event whose send failed that way may then be shown twice, because it may
// have reached the gateway (sseconn itself retries only what provably never
// did). An event the connection manager refuses as invalid or too large is
// skipped.
//
// # AMQP mode: several replicas
//
// With [WithBus] (a bus.Bus, such as sseconn/amqp's Bus), a backend may run
// several replicas behind one or more gateways: the browser's stream may
// connect through any replica, whichever replica runs the task. Nothing
// changes in the code but the option:
//
//	b, err := amqp.NewBus(ctx, rabbitURL) // package sseconn/amqp
//	if err != nil { … }
//	defer b.Close()
//	runner, err := task.New(conns, task.WithBus(b))
//
// The replica that runs a task (its owner) binds the task on the bus. A
// replica that handles the connect of a task it does not hold follows the
// task: it asks the owner for the task's log, receives every change, and
// sends the events to the stream through its own Conn, by HTTP, so the
// stream keeps every promise above: task_started, progress (coalescing
// allowed), exactly one terminal event and connection_close, then the end
// of the stream; the history on connect and reconnect, through any replica;
// nothing lost to timing. A follower sends a new stream nothing until the
// owner has answered that connect's request, so the history it replays is
// never older than what the browser saw through another replica. An
// unknown or expired task gets the error event and connection_close once
// two requests a lease interval apart found no owner (about one lease
// interval after the connect).
//
// Every message on the bus carries the whole compacted log with its
// sequence numbers, so a lost or repeated message costs nothing, and a
// follower asks the owner again every lease interval ([WithLease], 1 s by
// default) until the stream ends. If the owner stops answering (its process
// died, or it lost the broker for good) for the lease timeout (5 s by
// default), the follower sends task_failed with data
// {"error":"task lost: its replica stopped","code":"TASK_LOST"} and
// connection_close: the browser learns it within lease timeout + lease
// interval of the owner's last answer (measured: 1.2 s with a 200 ms
// interval and a 1 s timeout). Tasks are not resumed elsewhere. While a
// replica is cut from the broker, its lease clocks stand still, its streams
// stay open without news, and when it is back it asks again: events are
// delivered late, not lost.
//
// [Runner.Cancel] reaches the owner through the bus ([ErrNotFound] if no
// replica holds the task). [Runner.Get] and [Runner.Wait] answer on the
// owner only. docs/scale-out.md in the repository describes the message
// flows.
//
// # Observability
//
// With [WithMeterProvider] the runner records, under the scope
// "github.com/ssegate/ssegate/task" and with the attribute kind (never an
// id): ssegate.task.started, ssegate.task.finished (by status),
// ssegate.task.rejected (by reason), ssegate.task.active (pending and
// running tasks) and ssegate.task.send_errors (by reason). With
// [WithTracerProvider] each run is a span "task.run", a child of the span in
// Start's context, and is the parent of the spans the task function makes
// from its context. With [WithLogger] it logs at debug level, and panics at
// error level with their stack.
package task
