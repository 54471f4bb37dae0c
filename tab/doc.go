// Package tab delivers events to browser tabs that each hold one stream,
// through a callback-style SSE gateway: the per-tab model, as opposed to
// one stream per task (package task) or per version watcher (package
// version).
//
// Browsers allow six HTTP/1.1 connections per origin, so a page that opens
// a stream per task runs out of them. A page that holds one stream per tab
// opens it at /api/sse/stream?request_id=<tab id> ([DefaultPath],
// [DefaultParam]; see [WithPath]) and reads every event from it: task
// events, which it filters by task_id, and version events. The stream is
// never ended by the backend.
//
// A [Hub] is the [callback.Service] of that route, and the place the
// application sends events to:
//
//	conns, err := sseconn.New(gatewayURL)
//	if err != nil { … }
//	hub, err := tab.New(conns,
//		tab.WithSubject(func(req *callback.Request) (string, error) {
//			return sessions.User(req.Header) // the forwarded session cookie
//		}),
//		tab.WithGreeter(version.Greeter(src)), // the current version on every connect
//	)
//	if err != nil { … }
//	runner, err := task.New(conns, task.WithTabs(hub))
//	if err != nil { … }
//	cb, err := callback.NewHandler(callback.WithSecret(secret),
//		callback.WithRoute(hub.Matcher(), hub),
//		callback.WithRoute(runner.Matcher(), runner))
//
//	// In the handler that starts a task for the tab that asked:
//	info, err := runner.Start(ctx, work, task.For(tab.To(requestID, user)))
//
//	// On deploy:
//	ev, _ := version.Event(version.Info{Version: "2.0.0"})
//	hub.Send(ctx, tab.Broadcast(), ev)
//
//	// On exit: runner.Shutdown, cb.Shutdown, hub.Close, conns.Shutdown.
//
// # Audiences
//
// [Hub.Send] (and task.For) names who gets an event:
//
//   - [To](requestID, subject): the tab that connected with requestID as
//     that user, usually the tab that started a task (the page sends its
//     request id with the request);
//   - [ToSubject](subject): every tab of that user;
//   - [Broadcast](): every tab, whatever its user.
//
// The subject of a tab is what the application's [SubjectFunc] returns for
// its connect ([WithSubject]); an error refuses the connect (401 by
// default). An event never reaches a tab of another user unless it is
// broadcast.
//
// # Request ids are not trusted
//
// The request id is chosen by the browser: another user's page could
// connect with the request id of your tab. The hub therefore keys each tab
// by [Key](requestID, subject), a hash of both: a stream that claims a
// request id as another user gets another key, and never receives the
// events sent To the real tab. In HTTP mode the key names the stream's
// identifier with the connection manager ("tab:<key>"); in AMQP mode it is
// the request id the hub answers the gateway with (its queue is
// sse.conn.<key>, bound with connection.<key>), so a foreign tab can never
// bind the key that To publishes to. Without [WithSubject] every tab has
// the subject "", so the request id alone keys it: any page that learns a
// tab's request id can receive that tab's events. Use WithSubject whenever
// events are private. Subjects are hashed the same way
// ([SubjectKey]) into the routing key subject.<hash>, so that no user name
// reaches the broker, and so that '.', '*' and '#' in it mean nothing.
//
// # Events before connect, and during a reconnect
//
// In HTTP mode the hub keeps the events of a tab that is not connected, in
// order, and sends them when it connects, after its greeting
// ([WithGreeter]). What is kept is bounded: [WithPendingLimit] events per
// tab (the oldest is dropped), [WithMaxTabs] tabs (the one disconnected
// longest ago is forgotten; when every tab is connected, an event for a new
// tab is refused with [ErrDropped]) and [WithTTL] (a tab not connected for
// that long is forgotten). Every dropped event is counted in the metric
// ssegate.tab.dropped, by reason (limit, expired, evicted, full, invalid),
// and logged: nothing is lost silently. An event [ToSubject] a user without
// any tab waits, under the same bounds, for that user's next tab. A
// [Broadcast] reaches the tabs the hub keeps at that moment.
//
// A send that fails with an error that may pass (a timeout, a 5xx answer,
// a connection lost before the answer) is retried with backoff: the
// gateway may have written the event already, so the browser may see it
// twice (at least once, never lost for that; a page that filters by
// task_id and event type shows the same); a
// send the gateway answers 404 (the stream is gone) keeps the event for the
// tab's next stream. As with any stream, an event the gateway accepted for
// a stream that was in fact already dead (the browser went away a moment
// before) is lost for that tab.
//
// # AMQP mode
//
// With [WithGateway] (a bus.Gateway, for example amqp.NewBus's) the hub
// serves a backend with several replicas behind gateways in AMQP mode.
// Connect declares the tab's queue sse.conn.<key> with exactly the
// gateway's arguments (bus.Gateway.Keep) and answers
// {"request_id":"<key>","bindings":["connection.<key>","broadcast","subject.<hash>"]}
// (no subject binding for a tab without a subject). Send publishes to the
// audience's routing key on any replica. An event To a tab first declares
// the tab's queue, so that it waits there if the tab has not connected yet;
// the gateway's queue keeps events while the tab reconnects, for its queue
// TTL (which must match the bus's amqp.WithQueueTTL). An event ToSubject or
// Broadcast reaches the queues bound at that moment: a user's tab that has
// never connected (or whose queue expired) does not get it. The greeting is
// sent by token on the replica that handled the connect. AMQP messages
// cannot end a stream, which the per-tab model never needs.
package tab
