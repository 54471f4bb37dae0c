package sseconn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssegate/ssegate/internal/wire"
)

func TestBroadcastOutcomes(t *testing.T) {
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		switch r.Token {
		case "t-gone":
			return answerGone
		case "t-500":
			return answer{500, "application/json", `{"error":{"message":"m","code":"WRITE_FAILED"}}`}
		}
		return answerOK
	})
	m := newTestManager(t, g.URL)
	for _, p := range [][2]string{
		{"version:a", "t-a"}, {"version:gone", "t-gone"}, {"version:err", "t-500"},
		{"version:b", "t-b"}, {"task:1", "t-task"},
	} {
		mustRegister(t, m, p[0], p[1])
	}
	rs := m.Broadcast(context.Background(), HasPrefix("version:"), Event{Name: "version", Data: `{"version":"2"}`})

	type outcome struct{ Identifier, Outcome string }
	var got []outcome
	for _, r := range rs {
		got = append(got, outcome{r.Identifier, outcomeOf(r.Err)})
	}
	want := []outcome{
		{"version:a", "ok"}, {"version:b", "ok"}, {"version:err", "gateway_error"}, {"version:gone", "gone"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if m.Connected("version:gone") {
		t.Error("broadcast kept the mapping the gateway answered 404 for")
	}
	for _, b := range g.bodies() {
		if b == `{"token":"t-task","event":{"name":"version","data":"{\"version\":\"2\"}"}}` {
			t.Error("broadcast reached an identifier its filter excludes")
		}
	}
}

func TestBroadcastBoundsConcurrency(t *testing.T) {
	const limit, n = 3, 12
	var mu sync.Mutex
	cur, peak := 0, 0
	release := make(chan struct{})
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		mu.Unlock()
		<-release
		mu.Lock()
		cur--
		mu.Unlock()
		return answerOK
	})
	m := newTestManager(t, g.URL, WithBroadcastConcurrency(limit), WithTimeout(time.Minute))
	for i := range n {
		mustRegister(t, m, fmt.Sprintf("task:%d", i), fmt.Sprintf("t%d", i))
	}
	done := make(chan []Result)
	go func() { done <- m.Broadcast(context.Background(), nil, Event{Data: "x"}) }()
	waitFor(t, "the first wave of sends", func() bool { mu.Lock(); defer mu.Unlock(); return cur == limit })
	close(release)
	rs := <-done
	if len(rs) != n {
		t.Fatalf("%d results, want %d", len(rs), n)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Identifier, r.Err)
		}
	}
	if peak != limit {
		t.Errorf("peak concurrency = %d, want %d", peak, limit)
	}
}

func TestBroadcastNothingSelected(t *testing.T) {
	m := newTestManager(t, "http://127.0.0.1:1")
	mustRegister(t, m, "task:1", "t")
	if rs := m.Broadcast(context.Background(), HasPrefix("version:"), Event{Data: "x"}); len(rs) != 0 {
		t.Errorf("results = %v, want none", rs)
	}
}

func TestSweepDropsGoneTokens(t *testing.T) {
	var mu sync.Mutex
	alive := map[string]bool{"t1": true, "t3": true}
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		mu.Lock()
		defer mu.Unlock()
		if r.Event != nil || r.Close {
			t.Errorf("sweep sent more than a no-op: %+v", r)
		}
		if alive[r.Token] {
			return answerOK
		}
		return answerGone
	})
	m := newTestManager(t, g.URL)
	for i := 1; i <= 4; i++ {
		mustRegister(t, m, fmt.Sprintf("task:%d", i), fmt.Sprintf("t%d", i))
	}
	removed, err := m.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if diff := cmp.Diff([]string{"task:2", "task:4"}, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	got := m.Identifiers(nil)
	if diff := cmp.Diff([]string{"task:1", "task:3"}, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
	checkMirror(t, m)
}

func TestSweepKeepsMappingsWhenGatewayIsDown(t *testing.T) {
	g := newFakeGateway(t, nil)
	url := g.URL
	g.Close()
	m := newTestManager(t, url, WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
	mustRegister(t, m, "task:1", "t1")
	removed, err := m.Sweep(context.Background())
	if err == nil || len(removed) != 0 {
		t.Fatalf("Sweep = %v, %v; want nothing removed and an error", removed, err)
	}
	if !m.Connected("task:1") {
		t.Error("a failed probe removed the mapping")
	}
}

func TestSweeperRunsPeriodically(t *testing.T) {
	var mu sync.Mutex
	gone := map[string]bool{}
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		mu.Lock()
		defer mu.Unlock()
		if gone[r.Token] {
			return answerGone
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithSweepInterval(5*time.Millisecond))
	mustRegister(t, m, "task:1", "t1")
	mustRegister(t, m, "task:2", "t2")
	// The disconnect callback of t1 was lost; the gateway no longer knows it.
	mu.Lock()
	gone["t1"] = true
	mu.Unlock()
	waitFor(t, "the sweeper to drop task:1", func() bool { return !m.Connected("task:1") })
	if !m.Connected("task:2") {
		t.Error("the sweeper dropped a live mapping")
	}
}

func TestShutdown(t *testing.T) {
	t.Run("waits for in-flight sends and refuses new ones", func(t *testing.T) {
		h := newHoldFirst("tok")
		g := newFakeGateway(t, h.answer)
		m, err := New(g.URL)
		if err != nil {
			t.Fatal(err)
		}
		mustRegister(t, m, "task:1", "tok")
		sent := make(chan error, 1)
		go func() { sent <- m.Send(context.Background(), "task:1", Event{Data: "in flight"}) }()
		<-h.arrived["tok"]
		stopped := make(chan error, 1)
		go func() { stopped <- m.Shutdown(context.Background()) }()
		waitFor(t, "shutdown to begin", func() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.closed })
		if err := m.Send(context.Background(), "task:1", Event{Data: "late"}); !errors.Is(err, ErrShutdown) {
			t.Errorf("Send during shutdown = %v, want ErrShutdown", err)
		}
		if err := m.Register(context.Background(), "task:2", "t2"); !errors.Is(err, ErrShutdown) {
			t.Errorf("Register during shutdown = %v, want ErrShutdown", err)
		}
		select {
		case err := <-stopped:
			t.Fatalf("Shutdown returned %v while a send was in flight", err)
		default:
		}
		close(h.release)
		if err := <-sent; err != nil {
			t.Errorf("in-flight Send: %v", err)
		}
		if err := <-stopped; err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	t.Run("returns the context's error", func(t *testing.T) {
		h := newHoldFirst("tok")
		g := newFakeGateway(t, h.answer)
		m, err := New(g.URL)
		if err != nil {
			t.Fatal(err)
		}
		mustRegister(t, m, "task:1", "tok")
		sent := make(chan error, 1)
		go func() { sent <- m.Send(context.Background(), "task:1", Event{Data: "x"}) }()
		<-h.arrived["tok"]
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Shutdown = %v, want context.Canceled", err)
		}
		close(h.release)
		<-sent
		if err := m.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
	})
	t.Run("closes every stream when asked", func(t *testing.T) {
		g := newFakeGateway(t, nil)
		m, err := New(g.URL, WithCloseOnShutdown(true), WithSweepInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		mustRegister(t, m, "task:1", "a")
		mustRegister(t, m, "task:2", "b")
		if err := m.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{`{"token":"a","close":true}`, `{"token":"b","close":true}`}
		if diff := cmp.Diff(want, g.bodies(), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

// A broadcast goes on after failures: with one send at a time and the
// first identifiers failing, every selected identifier is still tried and
// reported.
func TestBroadcastDoesNotStopAtFirstFailure(t *testing.T) {
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

// A broadcast filter is user code: it runs without the manager's lock, so
// a filter that asks the manager something (here, Token) does not
// deadlock.
func TestBroadcastFilterMayCallTheManager(t *testing.T) {
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

// A sweep probe that answers 404 after the identifier was re-registered
// leaves the new mapping alone (compare-and-delete by token), and the
// identifier is not reported as removed.
func TestSweepKeepsMappingReRegisteredDuringProbe(t *testing.T) {
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
	m := newTestManager(t, g.URL, WithTimeout(time.Minute))
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
