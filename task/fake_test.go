package task

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

// waitTimeout bounds every wait of the tests. It is generous because the
// tests run with -race on a noisy 2-core machine; a passing test never
// waits that long.
const waitTimeout = 10 * time.Second

// sent is one event the fake Conn accepted.
type sent struct {
	Token string
	Ev    sseconn.Event
	Close bool
}

// fakeConn is a Conn that records what is sent, by token, resolving
// identifiers to tokens like sseconn.Manager does.
type fakeConn struct {
	// resolveLate makes a send resolve the identifier's token after hook
	// instead of before: a send in flight during a Register then lands on
	// the new token, the worst case of a real manager.
	resolveLate bool

	mu sync.Mutex // guards the fields below
	// hook, if set, runs at the start of every Send and SendAndClose,
	// outside the fake's lock. It may block; an error it returns is the
	// send's result.
	hook func(ctx context.Context, identifier string, ev sseconn.Event) error
	// registerErr, if set, is returned by Register.
	registerErr  error
	tokens       map[string]string // identifier -> token
	byToken      map[string][]sent
	registered   []string      // tokens, in Register order
	unregistered []string      // tokens Unregister was called with
	changed      chan struct{} // closed and replaced on every change
}

func newFakeConn() *fakeConn {
	return &fakeConn{
		tokens:  make(map[string]string),
		byToken: make(map[string][]sent),
		changed: make(chan struct{}),
	}
}

var _ Conn = (*fakeConn)(nil)

func (f *fakeConn) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// setHook sets the hook; see fakeConn.hook.
func (f *fakeConn) setHook(h func(ctx context.Context, identifier string, ev sseconn.Event) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = h
}

// setRegisterErr sets the error Register returns.
func (f *fakeConn) setRegisterErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registerErr = err
}

func (f *fakeConn) Register(_ context.Context, identifier, token string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.registerErr != nil {
		return f.registerErr
	}
	f.tokens[identifier] = token
	f.registered = append(f.registered, token)
	f.notifyLocked()
	return nil
}

func (f *fakeConn) Unregister(token string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unregistered = append(f.unregistered, token)
	f.notifyLocked()
	for id, tok := range f.tokens {
		if tok == token {
			delete(f.tokens, id)
			return true
		}
	}
	return false
}

func (f *fakeConn) Send(ctx context.Context, identifier string, ev sseconn.Event) error {
	return f.send(ctx, identifier, ev, false)
}

func (f *fakeConn) SendAndClose(ctx context.Context, identifier string, ev sseconn.Event) error {
	return f.send(ctx, identifier, ev, true)
}

func (f *fakeConn) send(ctx context.Context, identifier string, ev sseconn.Event, closeAfter bool) error {
	if !json.Valid([]byte(ev.Data)) {
		return fmt.Errorf("fake: %w: data is not JSON", sseconn.ErrInvalidEvent)
	}
	f.mu.Lock()
	token, ok := f.tokens[identifier]
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, identifier, ev); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resolveLate {
		token, ok = f.tokens[identifier]
	}
	if !ok {
		return sseconn.ErrNotConnected
	}
	f.byToken[token] = append(f.byToken[token], sent{Token: token, Ev: ev, Close: closeAfter})
	if closeAfter && f.tokens[identifier] == token {
		delete(f.tokens, identifier)
	}
	f.notifyLocked()
	return nil
}

// events returns a copy of what was sent to token.
func (f *fakeConn) events(token string) []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.byToken[token]...)
}

// waitFor waits until cond, called with f.mu held, is true.
func (f *fakeConn) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		ok := cond()
		ch := f.changed
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitClosed waits until token got an event sent with close.
func (f *fakeConn) waitClosed(t testing.TB, token string) []sent {
	t.Helper()
	f.waitFor(t, "close on "+token, func() bool {
		evs := f.byToken[token]
		return len(evs) > 0 && evs[len(evs)-1].Close
	})
	return f.events(token)
}

// waitCount waits until token got at least n events.
func (f *fakeConn) waitCount(t testing.TB, token string, n int) []sent {
	t.Helper()
	f.waitFor(t, fmt.Sprintf("%d events on %s", n, token), func() bool {
		return len(f.byToken[token]) >= n
	})
	return f.events(token)
}

// summary renders events without timestamps, for comparisons:
// "task_started {}", "progress_update {"text":"a","value":0.5}",
// "connection_close {"reason":"task_completed"} close".
func summary(t testing.TB, evs []sent) []string {
	t.Helper()
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		m := decode(t, e.Ev)
		s := m.EventType + " " + string(m.Data)
		if e.Close {
			s += " close"
		}
		out = append(out, s)
	}
	return out
}

// decode parses a task_event.
func decode(t testing.TB, ev sseconn.Event) Message {
	t.Helper()
	if ev.Name != EventName {
		t.Fatalf("event name = %q, want %q", ev.Name, EventName)
	}
	var m Message
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		t.Fatalf("event data %q: %v", ev.Data, err)
	}
	return m
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withoutAutoResume stops the runner from resuming stalled deliveries on
// its own, so that a test decides when with Runner.resume.
func withoutAutoResume() Option {
	return optionFunc(func(c *config) { c.resumeEvery = time.Hour })
}

// newTestRunner returns a Runner over conn that is shut down at the end of
// the test. It resumes stalled deliveries only when the test calls
// Runner.resume.
func newTestRunner(t testing.TB, conn Conn, opts ...Option) *Runner {
	t.Helper()
	r, err := New(conn, append([]Option{withoutAutoResume()}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r
}

// connectReq builds the connect callback of a browser that opened
// streamURL, routed by r's matcher.
func connectReq(t testing.TB, r *Runner, streamURL, token string) *callback.Request {
	t.Helper()
	u, err := url.Parse(streamURL)
	if err != nil {
		t.Fatalf("parse %q: %v", streamURL, err)
	}
	m, ok, err := r.Matcher().Match(u)
	if err != nil || !ok {
		t.Fatalf("Matcher().Match(%q) = %v, %v", streamURL, ok, err)
	}
	return &callback.Request{Action: "connect", Token: token, URL: u, Identifier: m.Identifier, Params: m.Params}
}

// connect runs r.Connect for a browser that opened streamURL.
func connect(t testing.TB, r *Runner, streamURL, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := r.Connect(ctx, connectReq(t, r, streamURL, token)); err != nil {
		t.Fatalf("Connect(%s): %v", token, err)
	}
}

// disconnect runs r.Disconnect for token.
func disconnect(t testing.TB, r *Runner, streamURL, token string) {
	t.Helper()
	req := connectReq(t, r, streamURL, token)
	req.Action, req.Reason = "disconnect", "client_closed"
	if err := r.Disconnect(context.Background(), req); err != nil {
		t.Fatalf("Disconnect(%s): %v", token, err)
	}
}

// stepper is a controllable task function: each value sent on steps is
// reported, then acknowledged on acks; closing steps makes the function
// return result, and a cancelled context makes it return ctx.Err().
type stepper struct {
	steps  chan Update
	acks   chan struct{}
	result any
	err    error
}

func newStepper(result any) *stepper {
	return &stepper{steps: make(chan Update), acks: make(chan struct{}), result: result}
}

func (s *stepper) fn(ctx context.Context, p *Progress) (any, error) {
	for {
		select {
		case u, ok := <-s.steps:
			if !ok {
				return s.result, s.err
			}
			p.Report(u.Text, u.Value)
			s.acks <- struct{}{}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// step reports u from inside the task and waits until it was reported.
func (s *stepper) step(t testing.TB, u Update) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case s.steps <- u:
	case <-timer.C:
		t.Fatalf("task did not take step %v", u)
	}
	select {
	case <-s.acks:
	case <-timer.C:
		t.Fatalf("task did not report step %v", u)
	}
}

// finish makes the task return.
func (s *stepper) finish() { close(s.steps) }

// waitDone waits until the task has finished and returns its final state.
func waitDone(t testing.TB, r *Runner, id string) Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	info, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait(%s): %v", id, err)
	}
	return info
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func startTask(t testing.TB, r *Runner, fn Func) Info {
	t.Helper()
	info, err := r.Start(context.Background(), fn)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if !strings.HasPrefix(info.StreamURL, "/") {
		t.Fatalf("StreamURL %q is not a path", info.StreamURL)
	}
	return info
}

// unregisteredOf returns the tokens Unregister was called with.
func unregisteredOf(f *fakeConn) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.unregistered...)
}

// registeredOf returns the tokens Register was called with.
func registeredOf(f *fakeConn) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.registered...)
}
