package version

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/ident"
	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn"
)

// Conn is what a [Notifier] needs from the connection layer. *sseconn.Manager
// satisfies it; so can any other transport with the same semantics:
//
//   - Register maps an identifier to a gateway token, replacing (and
//     closing) an older token;
//   - Unregister removes the mapping only if it still holds token;
//   - Send fails with an error matching sseconn.ErrNotConnected when no
//     browser is connected, without doing I/O, and with one matching
//     sseconn.ErrInvalidEvent or sseconn.ErrTooLarge for an event that can
//     never be sent;
//   - Broadcast sends to every identifier that filter selects and reports
//     one [sseconn.Result] per identifier it tried.
type Conn interface {
	Register(ctx context.Context, identifier, token string) error
	Unregister(token string) bool
	Send(ctx context.Context, identifier string, ev sseconn.Event) error
	Broadcast(ctx context.Context, filter func(identifier string) bool, ev sseconn.Event) []sseconn.Result
}

// Status is the delivery status of a version event.
type Status int

// Delivery statuses.
const (
	// Delivered means the gateway accepted the event for the browser's
	// stream (written, or buffered during the connect callback).
	Delivered Status = iota + 1
	// Pending means the event is kept and will be sent, in order, when a
	// browser connects with the request id (or by the next Notify that
	// finds it connected), unless it expires or is dropped first.
	Pending
	// Dropped means the event was discarded and will never be sent.
	Dropped
)

// String returns "delivered", "pending" or "dropped".
func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Pending:
		return "pending"
	case Dropped:
		return "dropped"
	default:
		return "Status(" + strconv.Itoa(int(s)) + ")"
	}
}

// Delivery is the outcome of one version event for one request id.
type Delivery struct {
	// RequestID is the browser's request id.
	RequestID string
	// Status says whether the event was delivered, kept pending or dropped.
	Status Status
	// Err is nil for Delivered. For Pending it is why the event was not
	// sent: an error matching sseconn.ErrNotConnected when no browser was
	// connected, a send error, or the caller's context error when it
	// stopped waiting for a flush in progress. For Dropped it wraps
	// [ErrDropped] (and the cause, if any).
	Err error
}

// Notifier sends version events to browsers, identified by request id, and
// keeps the events of browsers that are not connected until they connect.
//
// It implements [callback.Service] for its route (see [Notifier.Matcher]):
// on connect it registers the stream and sends what is pending, or else the
// current version; on disconnect it unregisters the stream.
//
// A Notifier is safe for concurrent use. It starts no goroutines and needs
// no Close: expired pending events are removed whenever the Notifier is
// used. No lock is held while sending.
type Notifier struct {
	conn    Conn
	src     Source
	cfg     config
	matcher callback.Matcher
	prefix  string // "version:"
	log     *slog.Logger
	ins     *instruments

	// waitHook, when set by tests, is called when Connect starts waiting
	// for a flush in progress.
	waitHook func()

	// retryDelay is the wait before the first retry of a connect that
	// sent its stream nothing (see retry.go); tests shorten it.
	retryDelay time.Duration

	mu       sync.Mutex        // guards the fields below and every entry and pending
	entries  map[string]*entry // by request id
	lru      lruList           // every entry, least recently notified first
	npending int               // pending events, snapshots excluded
	nreqs    int               // request ids with at least one pending event
	drops    []dropRecord      // drops to count and log once mu is released
	pdelta   int64             // change of ssegate.version.pending to record once mu is released
}

var _ callback.Service = (*Notifier)(nil)

// New returns a notifier that sends over conn and asks src for the current
// version.
//
// It fails with an error wrapping [ErrInvalidConfig] if conn or src is nil
// or an option is invalid (every problem reported, joined with
// [errors.Join]), and with another error if the instruments cannot be
// created.
func New(conn Conn, src Source, opts ...Option) (*Notifier, error) {
	cfg := defaultConfig()
	if conn == nil {
		cfg.problems.Add(errors.New("nil Conn"))
	}
	if src == nil {
		cfg.problems.Add(errors.New("nil Source"))
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	cfg.resolve()
	if err := cfg.problems.Err(ErrInvalidConfig); err != nil {
		return nil, err
	}
	ins, err := newInstruments(cfg.meterProvider, cfg.tracerProvider)
	if err != nil {
		return nil, fmt.Errorf("version: create instruments: %w", err)
	}
	return &Notifier{
		conn:    conn,
		src:     src,
		cfg:     cfg,
		matcher: cfg.matcher,
		prefix:  Kind + ":",
		log:     cfg.logger,
		ins:     ins,
		entries: make(map[string]*entry),

		retryDelay: connectRetryDelay,
	}, nil
}

// Matcher returns the route of version streams, by default
// callback.Query("version", "/api/sse/utils/version", "request_id"). Mount
// the notifier with callback.WithRoute(n.Matcher(), n).
func (n *Notifier) Matcher() callback.Matcher { return n.matcher }

// Identifier returns the connection identifier of a request id:
// "version:<requestID>".
func Identifier(requestID string) string { return Kind + ":" + requestID }

func checkRequestID(rid string) error {
	if err := ident.CheckRequestID(rid); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRequestID, err)
	}
	return nil
}

// event validates info and returns its SSE event.
func event(info Info) (sseconn.Event, error) {
	data, err := info.encode()
	if err != nil {
		return sseconn.Event{}, err
	}
	if len(data) > wire.MaxBodyBytes {
		return sseconn.Event{}, fmt.Errorf("%w: encoded info is %d bytes, over the gateway's %d-byte limit",
			ErrInvalidInfo, len(data), wire.MaxBodyBytes)
	}
	return sseconn.Event{Name: EventName, Data: data}, nil
}

// Notify sends info to the browser connected with requestID, or keeps it
// pending until one connects. Events for one request id are delivered in
// the order of the Notify calls (and Broadcasts) that made them, after any
// events already pending.
//
// The returned Delivery says whether the event was Delivered or is Pending
// (and why); if a flush for requestID is in progress, Notify waits for it,
// bounded by ctx, and each send is bounded by the send timeout. Adding an
// event may drop the oldest pending event of requestID (see
// [WithPendingLimit]).
//
// Notify returns a non-nil error only when the event is rejected and so
// neither delivered nor kept: an error wrapping [ErrInvalidRequestID] or
// [ErrInvalidInfo], or a Delivery.Err matching sseconn.ErrInvalidEvent or
// sseconn.ErrTooLarge. A Pending Delivery is not an error.
func (n *Notifier) Notify(ctx context.Context, requestID string, info Info) (d Delivery, err error) {
	ctx, span := n.ins.start(ctx, "version.notify", attribute.String("version.request_id", requestID))
	defer func() { endSpan(span, d.Status, err) }()
	if err := checkRequestID(requestID); err != nil {
		return Delivery{RequestID: requestID, Status: Dropped, Err: err}, err
	}
	ev, err := event(info)
	if err != nil {
		return Delivery{RequestID: requestID, Status: Dropped, Err: err}, err
	}
	if n.cfg.gateway != nil {
		return n.notifyAMQP(ctx, requestID, ev)
	}
	now := n.cfg.now()
	n.lock()
	n.expireLocked(now)
	e := n.entryLocked(requestID, now)
	p := n.pushLocked(e, ev, now)
	d = n.settleLocked(ctx, e, p)
	n.unlock(ctx)

	n.ins.event(ctx, opNotify, d.Status)
	if d.Status == Dropped && isInvalid(d.Err) {
		return d, d.Err
	}
	return d, nil
}

func isInvalid(err error) bool {
	return errors.Is(err, sseconn.ErrInvalidEvent) || errors.Is(err, sseconn.ErrTooLarge)
}

// Broadcast sends info to every connected version stream, for example on
// deploy, through Conn.Broadcast (bounded concurrency, filter
// sseconn.HasPrefix("version:")), and returns one Delivery per request id,
// sorted by request id.
//
// A browser whose request id has events pending or a flush in progress gets
// info queued after them instead, so that it never sees versions out of
// order. An event whose send fails is kept pending for its request id, like
// one from [Notifier.Notify]. Browsers that are not connected are not
// notified.
//
// Broadcast fails only for an invalid info ([ErrInvalidInfo]).
func (n *Notifier) Broadcast(ctx context.Context, info Info) ([]Delivery, error) {
	ctx, span := n.ins.start(ctx, "version.broadcast")
	defer span.End()
	ev, err := event(info)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	if n.cfg.gateway != nil {
		return n.broadcastAMQP(ctx, ev)
	}
	type queued struct {
		e *entry
		p *pending
	}
	var mine []queued // guarded by n.mu
	hasPrefix := sseconn.HasPrefix(n.prefix)
	filter := func(id string) bool {
		if !hasPrefix(id) {
			return false
		}
		rid := id[len(n.prefix):]
		now := n.cfg.now()
		// Conn.Broadcast may call filter under its own lock: release ours
		// with a plain Unlock, leaving any drop records to be logged by a
		// later unlock, outside that lock.
		n.mu.Lock()
		defer n.mu.Unlock()
		e := n.entries[rid]
		if e == nil {
			return true
		}
		mine = append(mine, queued{e, n.pushLocked(e, ev, now)})
		return false
	}
	results := n.conn.Broadcast(ctx, filter, ev)

	out := make([]Delivery, 0, len(results)+len(mine))
	for _, r := range results {
		rid := strings.TrimPrefix(r.Identifier, n.prefix)
		var d Delivery
		switch {
		case r.Err == nil:
			d = Delivery{RequestID: rid, Status: Delivered}
		case isInvalid(r.Err):
			d = Delivery{RequestID: rid, Status: Dropped, Err: dropError(dropInvalid, r.Err)}
		default:
			d = n.keep(ctx, rid, ev, r.Err)
		}
		out = append(out, d)
	}
	n.lock()
	for _, q := range mine {
		out = append(out, n.settleLocked(ctx, q.e, q.p))
	}
	n.unlock(ctx)
	for _, d := range out {
		n.ins.event(ctx, opBroadcast, d.Status)
	}
	slices.SortFunc(out, func(a, b Delivery) int { return cmp.Compare(a.RequestID, b.RequestID) })
	span.SetAttributes(attribute.Int("version.deliveries", len(out)))
	return out, nil
}

// keep makes a broadcast event whose send failed with sendErr pending for
// rid. If the browser is gone, a replacement may already be connected, so
// the queue is drained at once (a cheap, I/O-free attempt otherwise).
func (n *Notifier) keep(ctx context.Context, rid string, ev sseconn.Event, sendErr error) Delivery {
	gone := errors.Is(sendErr, sseconn.ErrGone) || errors.Is(sendErr, sseconn.ErrNotConnected)
	now := n.cfg.now()
	n.lock()
	defer n.unlock(ctx)
	n.expireLocked(now)
	e := n.entryLocked(rid, now)
	p := n.pushLocked(e, ev, now)
	if gone || e.draining {
		return n.settleLocked(ctx, e, p)
	}
	p.resolve(Pending, sendErr)
	n.enforceLocked(e)
	return Delivery{RequestID: rid, Status: Pending, Err: sendErr}
}

// Connect implements [callback.Service]. It registers the stream with the
// Conn and then, within the send timeout, sends the events pending for the
// request id in order, or, with nothing pending, the current version from
// the Source. An event whose send fails stays pending, in order, for the
// next connect. A failing Source yields the event
// {"version":"unknown","error":"<reason>"} instead; it never fails the
// connect.
//
// If another goroutine is flushing the same request id (a concurrent
// Notify, or the connect of a browser this one replaces), Connect waits for
// it and then sends what is left; events that reached this browser
// meanwhile make the current-version event unnecessary. If a send to the
// request id succeeded while this browser registered, Connect re-sends that
// event instead of asking the Source, since it may have reached the
// replaced stream only (see the package documentation, "Duplicates").
//
// Connect fails only if the identifier is not "version:<request_id>" (a
// misconfigured matcher: the gateway answers 500), if the request id is
// invalid (see [ErrInvalidRequestID]: a [*callback.Rejection] with status
// 400), or if Register fails (500).
func (n *Notifier) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	rid, ok := strings.CutPrefix(req.Identifier, n.prefix)
	if !ok {
		return nil, fmt.Errorf("version: connect for identifier of kind %q, want %s<request_id>",
			sseconn.Kind(req.Identifier), n.prefix)
	}
	if err := checkRequestID(rid); err != nil {
		return nil, callback.Reject(http.StatusBadRequest, err.Error())
	}
	ctx, span := n.ins.start(ctx, "version.connect", attribute.String("version.request_id", rid))
	defer span.End()
	if n.cfg.gateway != nil {
		return n.connectAMQP(ctx, span, req, rid)
	}
	now := n.cfg.now()
	n.lock()
	n.expireLocked(now)
	// The entry exists from before Register, so that a concurrent
	// Broadcast queues behind this connect instead of racing it.
	e := n.entryLocked(rid, now)
	e.refs++
	// Any send that succeeds from here until gen is incremented below may
	// have reached the stream this connect replaces or this one.
	seen := e.delivered
	n.unlock(ctx)
	defer func() {
		n.lock()
		e.refs--
		n.maybeDeleteLocked(e)
		n.unlock(ctx)
	}()

	if err := n.conn.Register(ctx, req.Identifier, req.Token); err != nil {
		return nil, fmt.Errorf("version: register %s: %w", req.Identifier, err)
	}

	reqCtx := ctx
	ctx, cancel := context.WithTimeout(reqCtx, n.cfg.sendTimeout)
	defer cancel()

	n.lock()
	e.gen++
	gen := e.gen
	for e.draining {
		if e.idle == nil {
			e.idle = make(chan struct{})
		}
		idle := e.idle
		n.unlock(ctx)
		if n.waitHook != nil {
			n.waitHook()
		}
		select {
		case <-idle:
			n.lock()
		case <-ctx.Done():
			n.lock()
			e.kick = true
			n.unlock(ctx)
			n.ins.connect(ctx, span, connectWaited)
			n.log.LogAttrs(ctx, slog.LevelDebug, "version: connect left its events to the flush in progress",
				slog.String("request_id", rid))
			return nil, nil
		}
	}
	switch {
	case len(e.q) > 0:
		e.draining = true
		n.retryIfMissedLocked(e, gen, n.drainLocked(ctx, e), 0)
		n.unlock(ctx)
		n.ins.connect(ctx, span, connectFlushed)
		return nil, nil
	case e.sentGen >= gen:
		// A flush that finished meanwhile already reached this browser.
		n.unlock(ctx)
		n.ins.connect(ctx, span, connectFlushed)
		return nil, nil
	case e.delivered > seen:
		// A send that started before this browser registered succeeded
		// meanwhile: it may have reached the replaced stream or this one.
		// Re-send it: the documented duplicate (package documentation,
		// "Duplicates"); it is also newer than what the Source may have
		// cached.
		e.draining = true
		e.q = slices.Insert(e.q, 0, &pending{ev: e.lastEv, at: n.cfg.now(), snapshot: true})
		n.retryIfMissedLocked(e, gen, n.drainLocked(ctx, e), 0)
		n.unlock(ctx)
		n.ins.connect(ctx, span, connectResent)
		return nil, nil
	}
	e.draining = true
	n.unlock(ctx)

	ev, what := n.currentEvent(ctx, reqCtx, rid)

	sendCtx, sendCancel := context.WithTimeout(reqCtx, n.cfg.sendTimeout)
	defer sendCancel()
	n.lock()
	e.q = slices.Insert(e.q, 0, &pending{ev: ev, at: n.cfg.now(), snapshot: true})
	n.retryIfMissedLocked(e, gen, n.drainLocked(sendCtx, e), 0)
	n.unlock(ctx)
	n.ins.connect(ctx, span, what)
	return nil, nil
}

// current asks the Source for the current version. A panic in the Source
// becomes an error, so that the flush claimed by Connect is always
// released.
func (n *Notifier) current(ctx context.Context) (info Info, err error) {
	defer func() {
		if r := recover(); r != nil {
			info, err = Info{}, fmt.Errorf("version: source panicked: %v", r)
		}
	}()
	return n.src.Current(ctx)
}

// Disconnect implements [callback.Service]: it unregisters the stream's
// token (a stale token of a replaced stream leaves the new mapping alone).
// Pending events are unaffected. It never fails.
func (n *Notifier) Disconnect(_ context.Context, req *callback.Request) error {
	n.conn.Unregister(req.Token)
	return nil
}

// Pending returns the number of events pending for requestID, after
// removing expired ones.
func (n *Notifier) Pending(requestID string) int {
	now := n.cfg.now()
	n.lock()
	defer n.unlock(context.Background()) // no caller context to record drops with
	n.expireLocked(now)
	e := n.entries[requestID]
	if e == nil {
		return 0
	}
	if !e.busy() {
		n.pruneLocked(e, now)
		count := e.n
		n.maybeDeleteLocked(e)
		return count
	}
	return e.n
}

// PendingRequests returns the number of request ids with pending events,
// after removing expired ones.
func (n *Notifier) PendingRequests() int {
	n.lock()
	defer n.unlock(context.Background()) // no caller context to record drops with
	n.expireLocked(n.cfg.now())
	return n.nreqs
}

// currentEvent asks the Source for the current version, within a budget of
// its own taken from reqCtx (the callback's context) so that a slow Source
// still leaves the send that follows its whole timeout, and returns the
// event to send: the version, or "unknown" with the reason. what is the
// connect outcome it stands for.
func (n *Notifier) currentEvent(ctx, reqCtx context.Context, rid string) (ev sseconn.Event, what string) {
	srcCtx, cancel := context.WithTimeout(reqCtx, n.cfg.sourceTimeout)
	info, err := n.current(srcCtx)
	cancel()
	ev, evErr := event(info)
	if err == nil && evErr != nil {
		err = evErr
	}
	if err != nil {
		n.log.LogAttrs(ctx, slog.LevelWarn, "version: source failed; sending unknown version",
			slog.String("request_id", rid), slog.String("error", err.Error()))
		return sseconn.Event{Name: EventName, Data: encodeUnknown(reason(err))}, connectUnknown
	}
	return ev, connectCurrent
}
