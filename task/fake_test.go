package task

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/conntest"
	"github.com/ssegate/ssegate/sseconn"
)

// waitTimeout bounds every wait of the tests. It is generous because the
// tests run with -race on a noisy 2-core machine; a passing test never
// waits that long.
const waitTimeout = 10 * time.Second

// sent is one event the fake Conn accepted.
type sent = conntest.Sent

// fakeConn is the module's fake of *sseconn.Manager.
type fakeConn = conntest.Conn

func newFakeConn() *fakeConn { return conntest.New() }

var _ Conn = (*fakeConn)(nil)

// summary renders events without timestamps, for comparisons:
// "task_started {}", "progress_update {"text":"a","value":0.5}",
// "connection_close {"reason":"task_completed"} close".
func summary(t testing.TB, evs []sent) []string {
	t.Helper()
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		m := decode(t, e.Event)
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
func unregisteredOf(f *fakeConn) []string { return f.Unregistered() }

// registeredOf returns the tokens Register mapped.
func registeredOf(f *fakeConn) []string { return f.Registered() }
