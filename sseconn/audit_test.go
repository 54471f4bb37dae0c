package sseconn

// Tests added by the test audit (see /tmp/audit.md): behaviour points of
// DESIGN.md that no other test asserted, or asserted too weakly to fail
// when the behaviour breaks.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/wire"
)

// Shutdown stops every goroutine the manager started: the sweeper and the
// keep-alive connections of its default doer. The gateway stays up, so
// only the manager can end the connections.
func TestAuditShutdownLeavesNoGoroutines(t *testing.T) {
	g := newFakeGateway(t, nil)
	ignore := goleak.IgnoreCurrent()
	m, err := New(g.URL, WithSweepInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	mustRegister(t, m, "task:1", "tok")
	for range 3 {
		if err := m.Send(context.Background(), "task:1", Event{Data: "x"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	goleak.VerifyNone(t, ignore)
}

// NewDoer's client closes its pooled connections when asked, like any
// *http.Client over an *http.Transport.
func TestAuditNewDoerClosesIdleConnections(t *testing.T) {
	g := newFakeGateway(t, nil)
	ignore := goleak.IgnoreCurrent()
	c, err := NewDoer(RetryPolicy{MaxAttempts: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Post(g.URL+wire.SendPath, "application/json", strings.NewReader(`{"token":"t"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // so that the connection is kept alive
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	c.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

// The close of a replaced token is posted outside the manager's lock: while
// the gateway holds it, lookups, registrations, unregistrations and sends
// to other identifiers all complete, and the new mapping is already live.
func TestAuditReplacementCloseHoldsNoLock(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if r.Token == "old" && r.Close {
			close(arrived)
			<-release
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithSendTimeout(time.Minute))
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock) // before the manager's Shutdown and the gateway's Close
	mustRegister(t, m, "task:1", "old")
	mustRegister(t, m, "task:2", "two")

	registered := make(chan error, 1)
	go func() { registered <- m.Register(context.Background(), "task:1", "new", "/x") }()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the close of the replaced token never reached the gateway")
	}

	others := make(chan error, 1)
	go func() {
		if tok, ok := m.Token("task:1"); !ok || tok != "new" {
			others <- fmt.Errorf("Token(task:1) = %q, %v during the close; want new, true", tok, ok)
			return
		}
		if err := m.Send(context.Background(), "task:2", Event{Data: "x"}); err != nil {
			others <- fmt.Errorf("Send to another identifier: %w", err)
			return
		}
		if err := m.Register(context.Background(), "task:3", "three", "/x"); err != nil {
			others <- fmt.Errorf("Register of another identifier: %w", err)
			return
		}
		if !m.Unregister("three") {
			others <- errors.New("Unregister(three) = false, want true")
			return
		}
		_ = m.Len()
		_ = m.Identifiers(nil)
		others <- nil
	}()
	select {
	case err := <-others:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("operations blocked while the replacement's close was in flight: a lock is held during I/O")
	}
	// Register does not wait for the close: a slow gateway cannot delay
	// the new stream's connect callback.
	select {
	case err := <-registered:
		if err != nil {
			t.Fatalf("Register: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Register waited for the close of the replaced stream")
	}
	unblock()
	checkMirror(t, m)
}

// The forward and reverse maps mirror each other at every moment of a
// concurrent workload, not only once it is over: a checker takes
// snapshots (under the manager's lock) while the workload runs.
func TestAuditMapsMirrorThroughoutWorkload(t *testing.T) {
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if strings.HasSuffix(r.Token, "3") && r.Event != nil {
			return answerGone
		}
		return answerOK
	})
	m := newTestManager(t, g.URL)

	stop := make(chan struct{})
	var checks atomic.Int64
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for {
			fwd, rev := m.snapshot()
			if err := mirrorError(fwd, rev); err != nil {
				t.Errorf("after %d snapshots: %v", checks.Load(), err)
				return
			}
			checks.Add(1)
			select {
			case <-stop:
				return
			default:
			}
		}
	}()

	const workers, ops = 6, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []string
			for i := range ops {
				id := fmt.Sprintf("task:%d", rng.IntN(6))
				switch op := rng.IntN(10); {
				case op < 4:
					tok := fmt.Sprintf("w%d-%d", w, i)
					if err := m.Register(context.Background(), id, tok, "/x"); err != nil {
						t.Errorf("Register: %v", err)
					}
					mine = append(mine, tok)
				case op < 6 && len(mine) > 0:
					m.Unregister(mine[rng.IntN(len(mine))])
				case op < 8:
					_ = m.Send(context.Background(), id, Event{Data: "x"})
				case op < 9:
					_ = m.Close(context.Background(), id)
				default:
					_, _ = m.Sweep(context.Background())
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-checked
	if checks.Load() == 0 {
		t.Fatal("the checker took no snapshot")
	}
	checkMirror(t, m)
}

// mirrorError describes how fwd and rev fail to mirror each other.
func mirrorError(fwd, rev map[string]string) error {
	if len(fwd) != len(rev) {
		return fmt.Errorf("%d identifiers but %d tokens: fwd %v rev %v", len(fwd), len(rev), fwd, rev)
	}
	for id, tok := range fwd {
		if rev[tok] != id {
			return fmt.Errorf("fwd[%q]=%q but rev[%q]=%q", id, tok, tok, rev[tok])
		}
	}
	return nil
}

// recordingDoer records the deadline of each request's context and
// answers ok.
type recordingDoer struct {
	mu        sync.Mutex
	deadlines []time.Duration // deadline minus the time Do was called
}

func (d *recordingDoer) Do(req *http.Request) (*http.Response, error) {
	dl, ok := req.Context().Deadline()
	d.mu.Lock()
	if ok {
		d.deadlines = append(d.deadlines, time.Until(dl))
	} else {
		d.deadlines = append(d.deadlines, -1)
	}
	d.mu.Unlock()
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       http.NoBody,
		Request:    req,
	}, nil
}

// Every send is bounded by the per-send timeout, 2 s by default (PROTOCOL.md
// section 7), by WithSendTimeout otherwise, and by a shorter caller deadline.
func TestAuditSendTimeoutBoundsEachRequest(t *testing.T) {
	if DefaultSendTimeout != 2*time.Second {
		t.Errorf("DefaultSendTimeout = %v, want 2s", DefaultSendTimeout)
	}
	tests := []struct {
		name     string
		opts     []Option
		ctx      time.Duration // caller's deadline; 0: none
		min, max time.Duration
	}{
		{"default", nil, 0, 1500 * time.Millisecond, 2 * time.Second},
		{"zero option means the default", []Option{WithSendTimeout(0)}, 0, 1500 * time.Millisecond, 2 * time.Second},
		{"option", []Option{WithSendTimeout(7 * time.Second)}, 0, 6500 * time.Millisecond, 7 * time.Second},
		{"shorter caller deadline wins", []Option{WithSendTimeout(7 * time.Second)}, 300 * time.Millisecond, time.Nanosecond, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &recordingDoer{}
			m := newTestManager(t, "http://127.0.0.1:1", append([]Option{WithDoer(d)}, tt.opts...)...)
			mustRegister(t, m, "task:1", "tok")
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			if err := m.Send(ctx, "task:1", Event{Data: "x"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.deadlines) != 1 {
				t.Fatalf("%d requests, want 1", len(d.deadlines))
			}
			if got := d.deadlines[0]; got < tt.min || got > tt.max {
				t.Errorf("request deadline in %v, want within [%v, %v]", got, tt.min, tt.max)
			}
		})
	}
}

// The connection counters follow each kind of change: connects count every
// registration, replacements the ones that replaced a token, disconnects
// every removal of a live mapping by reason, and the active connections
// equal the live mappings per kind.
func TestAuditConnectionCounters(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if r.Token == "c" || r.Token == "d" {
			return answerGone
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithMeterProvider(mp))
	ctx := context.Background()

	mustRegister(t, m, "task:1", "a")
	mustRegister(t, m, "task:1", "b") // replaces a
	mustRegister(t, m, "task:1", "b") // no-op
	mustRegister(t, m, "version:1", "v")
	if m.Unregister("a") {
		t.Error("Unregister of the replaced token = true")
	}
	if !m.Unregister("b") {
		t.Error("Unregister of the live token = false")
	}
	mustRegister(t, m, "task:2", "c")
	if err := m.Send(ctx, "task:2", Event{Data: "x"}); !errors.Is(err, ErrGone) {
		t.Fatalf("Send = %v, want ErrGone", err)
	}
	mustRegister(t, m, "task:3", "d")
	if removed, err := m.Sweep(ctx); err != nil || !slices.Equal(removed, []string{"task:3"}) {
		t.Fatalf("Sweep = %v, %v; want [task:3], nil", removed, err)
	}

	tests := []struct {
		name string
		want map[string]int64
	}{
		{"ssegate.connections.connects", map[string]int64{"kind=task": 4, "kind=version": 1}},
		{"ssegate.connections.replacements", map[string]int64{"kind=task": 1}},
		{"ssegate.connections.disconnects", map[string]int64{
			"kind=task,reason=unregister": 1, "kind=task,reason=gone": 1, "kind=task,reason=sweep": 1,
		}},
		{"ssegate.connections.active", map[string]int64{"kind=task": 0, "kind=version": 1}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, collect(t, reader, tt.name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if m.Len() != 1 {
		t.Errorf("Len = %d, want 1", m.Len())
	}
}

// A broadcast goes on after failures: with one send at a time and the
// first identifiers failing, every selected identifier is still tried and
// reported.
func TestAuditBroadcastDoesNotStopAtFirstFailure(t *testing.T) {
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		switch r.Token {
		case "t1":
			return answer{500, "application/json", `{"error":{"message":"m","code":"WRITE_FAILED"}}`}
		case "t2":
			return answerGone
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithBroadcastConcurrency(1), WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
	for i := 1; i <= 4; i++ {
		mustRegister(t, m, fmt.Sprintf("task:%d", i), fmt.Sprintf("t%d", i))
	}
	rs := m.Broadcast(context.Background(), HasPrefix("task:"), Event{Data: "x"})
	type outcome struct{ Identifier, Outcome string }
	var got []outcome
	for _, r := range rs {
		got = append(got, outcome{r.Identifier, outcomeOf(r.Err)})
	}
	want := []outcome{{"task:1", outcomeGatewayError}, {"task:2", outcomeGone}, {"task:3", outcomeOK}, {"task:4", outcomeOK}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	var tokens []string
	for _, b := range g.bodies() {
		tok, _, _ := strings.Cut(strings.TrimPrefix(b, `{"token":"`), `"`)
		tokens = append(tokens, tok)
	}
	slices.Sort(tokens)
	if diff := cmp.Diff([]string{"t1", "t2", "t3", "t4"}, tokens); diff != "" {
		t.Errorf("tokens sent to (-want +got):\n%s", diff)
	}
}

// A sweep probe that answers 404 after the identifier was re-registered
// leaves the new mapping alone (compare-and-delete by token), and the
// identifier is not reported as removed.
func TestAuditSweepKeepsMappingReRegisteredDuringProbe(t *testing.T) {
	probed := make(chan struct{})
	release := make(chan struct{})
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if r.Token == "old" && r.Event == nil && !r.Close {
			close(probed)
			<-release
		}
		if r.Token == "old" {
			return answerGone
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithSendTimeout(time.Minute))
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock) // before the manager's Shutdown and the gateway's Close
	mustRegister(t, m, "task:1", "old")
	type sweep struct {
		removed []string
		err     error
	}
	done := make(chan sweep, 1)
	go func() {
		removed, err := m.Sweep(context.Background())
		done <- sweep{removed, err}
	}()
	select {
	case <-probed:
	case <-time.After(10 * time.Second):
		t.Fatal("the probe never reached the gateway")
	}
	mustRegister(t, m, "task:1", "new")
	unblock()
	got := <-done
	if got.err != nil || len(got.removed) != 0 {
		t.Errorf("Sweep = %v, %v; want nothing removed and no error", got.removed, got.err)
	}
	if tok, ok := m.Token("task:1"); !ok || tok != "new" {
		t.Errorf("Token = %q, %v; want new, true", tok, ok)
	}
	checkMirror(t, m)
}

// The sweeper is opt-in: a manager made without WithSweepInterval starts no
// goroutine and probes nothing; and Shutdown closes the streams at the
// gateway only with WithCloseOnShutdown.
func TestAuditNothingUnlessAsked(t *testing.T) {
	g := newFakeGateway(t, nil)
	ignore := goleak.IgnoreCurrent()
	m, err := New(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, ignore) // no sweeper, no other goroutine
	mustRegister(t, m, "task:1", "a")
	mustRegister(t, m, "task:2", "b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := g.bodies(); len(got) != 0 {
		t.Errorf("the gateway received %q, want nothing", got)
	}
}

// With the gateway not running and the default retry policy, a send fails
// fast with the wrapped dial error, after the bounded retries and well
// before the send timeout.
func TestAuditGatewayDownFailsFastWithDefaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	m := newTestManager(t, "http://"+addr)
	mustRegister(t, m, "task:1", "tok")
	start := time.Now()
	err = m.Send(context.Background(), "task:1", Event{Data: "x"})
	elapsed := time.Since(start)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("err = %v, want a wrapped dial *net.OpError", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v: the send waited for its timeout", err)
	}
	if elapsed >= DefaultSendTimeout {
		t.Errorf("the send took %v, want less than the %v timeout", elapsed, DefaultSendTimeout)
	}
	if !m.Connected("task:1") {
		t.Error("mapping dropped while the gateway was down")
	}
}

// A broadcast filter is user code: it runs without the manager's lock, so
// a filter that asks the manager something (here, Token) does not
// deadlock.
func TestAuditBroadcastFilterMayCallTheManager(t *testing.T) {
	g := newFakeGateway(t, nil)
	m, err := New(g.URL)
	if err != nil {
		t.Fatal(err)
	}
	mustRegister(t, m, "task:1", "t1")
	mustRegister(t, m, "task:2", "t2")
	done := make(chan []Result, 1)
	go func() {
		done <- m.Broadcast(context.Background(), func(id string) bool {
			tok, ok := m.Token(id)
			return ok && tok == "t2"
		}, Event{Data: "x"})
	}()
	select {
	case rs := <-done:
		if diff := cmp.Diff([]Result{{Identifier: "task:2"}}, rs); diff != "" {
			t.Errorf("results (-want +got):\n%s", diff)
		}
	case <-time.After(10 * time.Second):
		// The manager's lock is held for good: Shutdown would hang too.
		t.Fatal("Broadcast deadlocked: its filter runs under the manager's lock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if diff := cmp.Diff([]string{`{"token":"t2","event":{"data":"x"}}`}, g.bodies()); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
}
