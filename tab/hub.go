package tab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

// Conn is what a [Hub] needs from the connection layer in HTTP mode.
// *sseconn.Manager satisfies it:
//
//   - Register maps an identifier to a gateway token, replacing (and
//     closing) an older token;
//   - Unregister removes the mapping only if it still holds token;
//   - Send fails with an error matching sseconn.ErrNotConnected when no
//     stream is registered, sseconn.ErrGone when the gateway no longer
//     knows it, and sseconn.ErrInvalidEvent or sseconn.ErrTooLarge for an
//     event that can never be sent.
type Conn interface {
	Register(ctx context.Context, identifier, token string) error
	Unregister(token string) bool
	Send(ctx context.Context, identifier string, ev sseconn.Event) error
}

// Hub delivers events to browser tabs, each of which holds one stream, and
// keeps the events of tabs that are not connected until they connect. It
// implements [callback.Service] for the tab route (see [Hub.Matcher]).
//
// A Hub is safe for concurrent use. [Hub.Close] stops its goroutines.
type Hub struct {
	conn Conn
	cfg  config
	log  *slog.Logger
	ins  *instruments

	ctx    context.Context // ends sends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // senders and retries

	mu        sync.Mutex
	closed    bool
	tabs      map[string]*tabState              // by key
	tokens    map[string]*tabState              // by the token of a connected stream
	bySubject map[string]map[*tabState]struct{} // tabs of a non-empty subject
	orphans   map[string]*orphan                // events ToSubject a subject without tabs
	seq       uint64                            // last sequence number handed out
	nextSweep time.Time
}

var _ callback.Service = (*Hub)(nil)

// tabState is one tab: its stream, if connected, and the events not yet
// delivered to it, oldest first.
type tabState struct {
	key        string
	subject    string
	identifier string // "tab:<key>"

	token     string // of the connected stream; "" when not connected
	connected bool
	gen       uint64    // counts connects
	left      time.Time // when it stopped being connected (or was made without a connect)
	q         []queued
	sending   bool        // a sender goroutine owns delivery
	failures  int         // sends failed in a row with an error that may pass
	retry     *time.Timer // resumes delivery after such a failure
}

// queued is one event kept for a tab.
type queued struct {
	seq uint64
	ev  sseconn.Event
}

// orphan holds the events sent to a subject none of whose tabs the hub
// keeps: the subject's next tab to connect gets them.
type orphan struct {
	q  []queued
	at time.Time // when the first of them was sent
}

// New returns a hub that sends to tabs through conn.
//
// It fails with an error wrapping [ErrInvalidConfig] for a nil conn or an
// invalid option (every problem reported, joined with [errors.Join]), and
// with another error if the instruments cannot be created. In AMQP mode
// ([WithGateway]) conn is still needed: a tab's greeting is sent by token.
func New(conn Conn, opts ...Option) (*Hub, error) {
	cfg := defaultConfig()
	if conn == nil {
		cfg.problems.Add(errors.New("nil Conn"))
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
	ins, err := newInstruments(cfg.meterProvider)
	if err != nil {
		return nil, fmt.Errorf("tab: create instruments: %w", err)
	}
	h := &Hub{
		conn:      conn,
		cfg:       cfg,
		log:       cfg.logger,
		ins:       ins,
		tabs:      make(map[string]*tabState),
		tokens:    make(map[string]*tabState),
		bySubject: make(map[string]map[*tabState]struct{}),
		orphans:   make(map[string]*orphan),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

// Matcher returns the route of tab streams, by default
// callback.Query("tab", "/api/sse/stream", "request_id"). Mount the hub
// with callback.WithRoute(h.Matcher(), h).
func (h *Hub) Matcher() callback.Matcher { return h.cfg.matcher }

// Close stops delivery: sends in progress are cancelled, and Send returns
// [ErrClosed] from then on. It waits for the hub's goroutines. Events not
// yet delivered are discarded.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	for _, t := range h.tabs {
		if t.retry != nil && t.retry.Stop() {
			h.wg.Done()
		}
		t.retry = nil
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// Send sends ev to the tabs of aud, in order after the events sent to them
// before: at once to the tabs that are connected, and to the others when
// they connect. It returns once the event is queued, before it is
// delivered. In AMQP mode it publishes ev with the audience's routing key
// and returns once the broker took it.
//
// What is kept for a tab that is not connected is bounded (see
// [WithPendingLimit], [WithMaxTabs] and [WithTTL]); an event pushed out is
// counted in ssegate.tab.dropped and logged, never lost silently. An event
// [ToSubject] a subject none of whose tabs the hub keeps waits for the
// subject's next tab to connect (HTTP mode only), under the same bounds.
// A [Broadcast] reaches the tabs the hub keeps.
//
// It returns an error wrapping [ErrInvalidAudience] for an invalid aud,
// sseconn.ErrInvalidEvent for an event the gateway cannot deliver intact,
// [ErrDropped] when the event could not be kept (see [WithMaxTabs]),
// [ErrClosed] after Close, and in AMQP mode the broker's error.
func (h *Hub) Send(ctx context.Context, aud Audience, ev sseconn.Event) error {
	if err := aud.Validate(); err != nil {
		return err
	}
	if err := ev.Validate(); err != nil {
		return fmt.Errorf("tab: send to %s: %w", aud, err)
	}
	if h.cfg.gateway != nil {
		return h.sendAMQP(ctx, aud, ev)
	}
	now := h.cfg.now()
	var drops dropLog
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	h.sweepLocked(now, &drops)
	h.seq++
	it := queued{seq: h.seq, ev: ev}
	var err error
	switch aud.kind {
	case audienceTab:
		key := Key(aud.requestID, aud.subject)
		t := h.tabs[key]
		if t == nil {
			t = h.newTabLocked(key, aud.subject, now, &drops)
		}
		if t == nil {
			drops.add(reasonFull, 1)
			err = fmt.Errorf("%w: %d tabs kept, all connected", ErrDropped, len(h.tabs))
			break
		}
		h.pushLocked(t, it, &drops)
	case audienceSubject:
		tabs := h.bySubject[aud.subject]
		if len(tabs) == 0 {
			err = h.orphanLocked(aud.subject, it, now, &drops)
			break
		}
		for t := range tabs {
			h.pushLocked(t, it, &drops)
		}
	case audienceBroadcast:
		for _, t := range h.tabs {
			h.pushLocked(t, it, &drops)
		}
	}
	h.mu.Unlock()
	drops.record(ctx, h)
	return err
}

// orphanLocked keeps it for the next tab of subject to connect.
func (h *Hub) orphanLocked(subject string, it queued, now time.Time, drops *dropLog) error {
	o := h.orphans[subject]
	if o == nil {
		if len(h.orphans) >= h.cfg.maxTabs {
			drops.add(reasonFull, 1)
			return fmt.Errorf("%w: events of %d subjects without tabs kept", ErrDropped, len(h.orphans))
		}
		o = &orphan{at: now}
		h.orphans[subject] = o
	}
	o.q = append(o.q, it)
	if n := len(o.q) - h.cfg.pendingLimit; n > 0 {
		o.q = o.q[n:]
		drops.add(reasonLimit, n)
	}
	return nil
}

// newTabLocked makes a tab that is not connected yet, forgetting the tab
// disconnected longest ago when the hub is full. It returns nil when every
// tab kept is connected.
func (h *Hub) newTabLocked(key, subject string, now time.Time, drops *dropLog) *tabState {
	if len(h.tabs) >= h.cfg.maxTabs {
		var oldest *tabState
		for _, t := range h.tabs {
			if !t.connected && !t.sending && (oldest == nil || t.left.Before(oldest.left)) {
				oldest = t
			}
		}
		if oldest == nil {
			return nil
		}
		drops.add(reasonEvicted, len(oldest.q))
		h.removeLocked(oldest)
	}
	t := &tabState{key: key, subject: subject, identifier: Kind + ":" + key, left: now}
	h.tabs[key] = t
	if subject != "" {
		set := h.bySubject[subject]
		if set == nil {
			set = make(map[*tabState]struct{})
			h.bySubject[subject] = set
		}
		set[t] = struct{}{}
	}
	return t
}

// removeLocked forgets t.
func (h *Hub) removeLocked(t *tabState) {
	delete(h.tabs, t.key)
	if t.token != "" && h.tokens[t.token] == t {
		delete(h.tokens, t.token)
	}
	if set := h.bySubject[t.subject]; set != nil {
		delete(set, t)
		if len(set) == 0 {
			delete(h.bySubject, t.subject)
		}
	}
	if t.retry != nil && t.retry.Stop() {
		h.wg.Done()
	}
	t.retry = nil
}

// pushLocked appends it to t's queue, dropping the oldest event over the
// limit, and starts delivery if t is connected.
func (h *Hub) pushLocked(t *tabState, it queued, drops *dropLog) {
	t.q = append(t.q, it)
	if n := len(t.q) - h.cfg.pendingLimit; n > 0 {
		t.q = t.q[n:]
		drops.add(reasonLimit, n)
	}
	h.kickLocked(t)
}

// kickLocked starts a sender for t if it is connected, has something to
// deliver, and nobody delivers or waits to retry.
func (h *Hub) kickLocked(t *tabState) {
	if h.closed || !t.connected || t.sending || t.retry != nil || len(t.q) == 0 {
		return
	}
	t.sending = true
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.deliver(t)
	}()
}

// sweepLocked forgets the tabs that have not been connected for the TTL,
// and the orphaned events as old, at most once per tenth of the TTL.
func (h *Hub) sweepLocked(now time.Time, drops *dropLog) {
	if now.Before(h.nextSweep) {
		return
	}
	h.nextSweep = now.Add(h.cfg.ttl / 10)
	for _, t := range h.tabs {
		if !t.connected && !t.sending && !now.Before(t.left.Add(h.cfg.ttl)) {
			drops.add(reasonExpired, len(t.q))
			h.removeLocked(t)
		}
	}
	for s, o := range h.orphans {
		if !now.Before(o.at.Add(h.cfg.ttl)) {
			drops.add(reasonExpired, len(o.q))
			delete(h.orphans, s)
		}
	}
}

// Retries of a delivery that failed with an error that may pass: the first
// after retryBase, each further one after twice as long, up to retryMax.
const (
	retryBase = 250 * time.Millisecond
	retryMax  = 30 * time.Second
)

func retryDelay(n int) time.Duration {
	d := retryBase
	for i := 1; i < n && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// deliver sends t's queue, in order, while t is connected. It is the only
// sender of t (t.sending) until it returns.
func (h *Hub) deliver(t *tabState) {
	for {
		h.mu.Lock()
		if h.closed || !t.connected || len(t.q) == 0 {
			t.sending = false
			h.mu.Unlock()
			return
		}
		it, gen, ident := t.q[0], t.gen, t.identifier
		h.mu.Unlock()

		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.sendTimeout)
		err := h.conn.Send(ctx, ident, it.ev)
		cancel()

		var drops dropLog
		h.mu.Lock()
		switch {
		case err == nil:
			t.failures = 0
			t.popLocked(it.seq)
		case errors.Is(err, sseconn.ErrInvalidEvent) || errors.Is(err, sseconn.ErrTooLarge):
			t.popLocked(it.seq)
			drops.add(reasonInvalid, 1)
		case errors.Is(err, sseconn.ErrNotConnected) || errors.Is(err, sseconn.ErrGone) ||
			errors.Is(err, sseconn.ErrShutdown):
			if t.gen == gen { // no newer stream connected meanwhile
				h.leaveLocked(t)
				t.sending = false
				h.mu.Unlock()
				return
			}
		default:
			if h.closed || t.gen != gen {
				break // Close, or a new stream: the loop decides
			}
			t.failures++
			d := retryDelay(t.failures)
			h.wg.Add(1)
			t.retry = time.AfterFunc(d, func() {
				defer h.wg.Done()
				h.mu.Lock()
				t.retry = nil
				h.kickLocked(t)
				h.mu.Unlock()
			})
			t.sending = false
			h.mu.Unlock()
			h.log.Debug("tab: send failed, retrying", "tab", t.key, "in", d, "error", err)
			return
		}
		h.mu.Unlock()
		if err != nil && !drops.empty() {
			h.log.Error("tab: event refused by the gateway, dropped", "tab", t.key, "error", err)
		}
		drops.record(h.ctx, h)
	}
}

// popLocked removes the event seq from t's queue, if it is still there: the
// limit may have dropped it meanwhile, and a connect may have put its
// greeting before it.
func (t *tabState) popLocked(seq uint64) {
	for i, it := range t.q {
		if it.seq == seq {
			if i == 0 {
				t.q[0] = queued{}
				t.q = t.q[1:]
			} else {
				t.q = slices.Delete(t.q, i, i+1)
			}
			return
		}
	}
}

// leaveLocked marks t as not connected.
func (h *Hub) leaveLocked(t *tabState) {
	if t.token != "" && h.tokens[t.token] == t {
		delete(h.tokens, t.token)
	}
	t.token, t.connected, t.left = "", false, h.cfg.now()
}

// requestID returns the request id of a connect or disconnect, validated.
func (h *Hub) requestID(req *callback.Request) (string, error) {
	rid, ok := strings.CutPrefix(req.Identifier, Kind+":")
	if !ok {
		return "", fmt.Errorf("tab: callback for identifier of kind %q, want %s:<request_id>",
			sseconn.Kind(req.Identifier), Kind)
	}
	if err := checkRequestID(rid); err != nil {
		return "", callback.Reject(http.StatusBadRequest, err.Error())
	}
	return rid, nil
}

// subject returns the subject of req, or the error that refuses it.
func (h *Hub) subject(req *callback.Request) (string, error) {
	if h.cfg.subject == nil {
		return "", nil
	}
	s, err := h.cfg.subject(req)
	if err != nil {
		if rej, ok := errors.AsType[*callback.Rejection](err); ok {
			return "", rej
		}
		h.log.Info("tab: connect refused: no subject", "error", err)
		return "", callback.Reject(http.StatusUnauthorized, "Unauthorized")
	}
	if err := checkSubject(s); err != nil {
		return "", fmt.Errorf("tab: subject function: %w", err)
	}
	return s, nil
}

// Connect implements [callback.Service]. It asks the subject function (see
// [WithSubject]) whose tab it is, registers the stream as "tab:<key>" (see
// [Key]) and sends, in order, the greeting (see [WithGreeter]), the events
// kept for the tab, and then, live, every later event for it. In AMQP mode
// see the package documentation.
//
// It refuses a request id that is empty, longer than 256 bytes or holds
// ':' or a control character with 400, and a connect the subject function
// refuses with its status (401 by default). It fails with 500 when Register
// fails.
func (h *Hub) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	rid, err := h.requestID(req)
	if err != nil {
		return nil, err
	}
	subject, err := h.subject(req)
	if err != nil {
		return nil, err
	}
	key := Key(rid, subject)
	if h.cfg.gateway != nil {
		return h.connectAMQP(ctx, req, key, subject)
	}
	if err := h.conn.Register(ctx, Kind+":"+key, req.Token); err != nil {
		return nil, fmt.Errorf("tab: connect: register %s:%s: %w", Kind, key, err)
	}
	greeting := h.greet(ctx)

	now := h.cfg.now()
	var drops dropLog
	h.mu.Lock()
	h.sweepLocked(now, &drops)
	t := h.tabs[key]
	if t == nil {
		// A connected tab is kept even over the bound: the gateway
		// bounds streams.
		t = h.newTabLocked(key, subject, now, &drops)
		if t == nil {
			t = &tabState{key: key, subject: subject, identifier: Kind + ":" + key}
			h.tabs[key] = t
			if subject != "" {
				if h.bySubject[subject] == nil {
					h.bySubject[subject] = make(map[*tabState]struct{})
				}
				h.bySubject[subject][t] = struct{}{}
			}
		}
	}
	if t.token != "" && h.tokens[t.token] == t {
		delete(h.tokens, t.token)
	}
	t.token, t.connected, t.left = req.Token, true, time.Time{}
	t.gen++
	t.failures = 0
	h.tokens[req.Token] = t
	if o := h.orphans[subject]; o != nil && subject != "" {
		delete(h.orphans, subject)
		for _, it := range o.q {
			h.pushLocked(t, it, &drops)
		}
	}
	if len(greeting) > 0 {
		head := make([]queued, 0, len(greeting)+len(t.q))
		for _, ev := range greeting {
			h.seq++
			head = append(head, queued{seq: h.seq, ev: ev})
		}
		t.q = append(head, t.q...)
	}
	if t.retry != nil && t.retry.Stop() {
		h.wg.Done()
	}
	t.retry = nil
	h.kickLocked(t)
	h.mu.Unlock()
	drops.record(ctx, h)
	h.ins.connect(ctx)
	return nil, nil
}

// greet returns the greeting events, bounded by the send timeout.
func (h *Hub) greet(ctx context.Context) []sseconn.Event {
	if h.cfg.greeter == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.sendTimeout)
	defer cancel()
	evs, err := h.callGreeter(ctx)
	if err != nil {
		h.log.Warn("tab: greeter failed", "error", err)
		return nil
	}
	out := evs[:0:0]
	for _, ev := range evs {
		if err := ev.Validate(); err != nil {
			h.log.Error("tab: greeting event dropped", "error", err)
			continue
		}
		out = append(out, ev)
	}
	return out
}

// callGreeter calls the greeter, turning a panic into an error.
func (h *Hub) callGreeter(ctx context.Context) (evs []sseconn.Event, err error) {
	defer func() {
		if v := recover(); v != nil {
			evs, err = nil, fmt.Errorf("tab: greeter panicked: %v", v)
		}
	}()
	return h.cfg.greeter(ctx)
}

// Disconnect implements [callback.Service]: it unregisters the stream's
// token, and keeps the tab's later events until it connects again (for the
// TTL). A stale token of a replaced stream changes nothing. It never fails.
func (h *Hub) Disconnect(_ context.Context, req *callback.Request) error {
	h.conn.Unregister(req.Token)
	h.mu.Lock()
	if t := h.tokens[req.Token]; t != nil && t.token == req.Token {
		h.leaveLocked(t)
	}
	h.mu.Unlock()
	return nil
}

// Pending returns the number of events kept for the tab of requestID and
// subject that are not delivered yet: 0 for a tab the hub does not keep.
// In AMQP mode it is always 0: the gateway's queue keeps them.
func (h *Hub) Pending(requestID, subject string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.tabs[Key(requestID, subject)]; t != nil {
		return len(t.q)
	}
	return 0
}
