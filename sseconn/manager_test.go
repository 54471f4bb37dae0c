package sseconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/wire"
)

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:3000", "ftp://x", "http://", "::"} {
		if m, err := New(u); err == nil {
			m.Shutdown(context.Background())
			t.Errorf("New(%q) = nil error, want one", u)
		}
	}
}

func TestRegisterNewConnection(t *testing.T) {
	g := newFakeGateway(t, nil)
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:1", "tok-1")

	fwd, rev := m.snapshot()
	if diff := cmp.Diff(map[string]string{"task:1": "tok-1"}, fwd); diff != "" {
		t.Errorf("forward map (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"tok-1": "task:1"}, rev); diff != "" {
		t.Errorf("reverse map (-want +got):\n%s", diff)
	}
	if got := g.bodies(); len(got) != 0 {
		t.Errorf("a new registration sent %q, want nothing", got)
	}
}

func TestRegisterReplacementClosesOldToken(t *testing.T) {
	g := newFakeGateway(t, nil)
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:1", "old")
	mustRegister(t, m, "task:1", "new")

	if err := m.Shutdown(context.Background()); err != nil { // waits for the close
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"token":"old","close":true}`}, g.bodies()); diff != "" {
		t.Errorf("requests to the gateway (-want +got):\n%s", diff)
	}
	fwd, rev := m.snapshot()
	if diff := cmp.Diff(map[string]string{"task:1": "new"}, fwd); diff != "" {
		t.Errorf("forward map (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"new": "task:1"}, rev); diff != "" {
		t.Errorf("reverse map (-want +got):\n%s", diff)
	}
}

func TestRegisterReplacementWhenCloseFails(t *testing.T) {
	tests := []struct {
		name string
		url  func(g *fakeGateway) string
	}{
		{"gateway answers 500", func(g *fakeGateway) string { return g.URL }},
		{"gateway unreachable", func(g *fakeGateway) string { g.Close(); return g.URL }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGateway(t, func(wire.SendRequest) answer {
				return answer{500, "application/json", `{"error":{"message":"boom","code":"WRITE_FAILED"}}`}
			})
			m := newTestManager(t, tt.url(g), WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
			mustRegister(t, m, "task:1", "old")
			if err := m.Register(context.Background(), "task:1", "new"); err != nil {
				t.Fatalf("Register replacing with a failing close: %v, want nil", err)
			}
			if tok, _ := m.Token("task:1"); tok != "new" {
				t.Errorf("Token = %q, want new", tok)
			}
			checkMirror(t, m)
		})
	}
}

func TestRegisterSameTokenTwiceIsNoop(t *testing.T) {
	g := newFakeGateway(t, nil)
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:1", "tok")
	mustRegister(t, m, "task:1", "tok")
	if got := g.bodies(); len(got) != 0 {
		t.Errorf("re-registering sent %q, want nothing", got)
	}
	if m.Len() != 1 {
		t.Errorf("Len = %d, want 1", m.Len())
	}
}

func TestRegisterErrors(t *testing.T) {
	m := newTestManager(t, "http://127.0.0.1:1")
	mustRegister(t, m, "task:1", "tok")
	tests := []struct {
		name, identifier, token string
		want                    error
	}{
		{"empty identifier", "", "t2", ErrInvalidIdentifier},
		{"empty token", "task:2", "", ErrInvalidIdentifier},
		{"token of another identifier", "task:2", "tok", ErrTokenInUse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Register(context.Background(), tt.identifier, tt.token)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Register = %v, want %v", err, tt.want)
			}
			if diff := cmp.Diff(map[string]string{"task:1": "tok"}, must(m.snapshot())); diff != "" {
				t.Errorf("a failed Register changed the maps (-want +got):\n%s", diff)
			}
		})
	}
}

func must(fwd, _ map[string]string) map[string]string { return fwd }

func TestUnregister(t *testing.T) {
	g := newFakeGateway(t, nil)
	tests := []struct {
		name      string
		setup     func(m *Manager)
		token     string
		wantLive  bool
		wantFwd   map[string]string
		wantRev   map[string]string
		wantCount int
	}{
		{
			name:     "disconnect removes both maps",
			setup:    func(m *Manager) { mustRegister(t, m, "task:1", "a") },
			token:    "a",
			wantLive: true,
			wantFwd:  map[string]string{},
			wantRev:  map[string]string{},
		},
		{
			name:    "unknown token is a no-op",
			setup:   func(m *Manager) { mustRegister(t, m, "task:1", "a") },
			token:   "zzz",
			wantFwd: map[string]string{"task:1": "a"},
			wantRev: map[string]string{"a": "task:1"},
		},
		{
			name: "stale disconnect after replacement keeps the live mapping",
			setup: func(m *Manager) {
				mustRegister(t, m, "task:1", "a")
				mustRegister(t, m, "task:1", "b")
			},
			token:   "a",
			wantFwd: map[string]string{"task:1": "b"},
			wantRev: map[string]string{"b": "task:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, g.URL)
			tt.setup(m)
			if got := m.Unregister(tt.token); got != tt.wantLive {
				t.Errorf("Unregister(%q) = %v, want %v", tt.token, got, tt.wantLive)
			}
			fwd, rev := m.snapshot()
			if diff := cmp.Diff(tt.wantFwd, fwd); diff != "" {
				t.Errorf("forward map (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRev, rev); diff != "" {
				t.Errorf("reverse map (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnected(t *testing.T) {
	m := newTestManager(t, "http://127.0.0.1:1")
	if m.Connected("task:1") {
		t.Error("Connected before Register = true")
	}
	mustRegister(t, m, "task:1", "a")
	if !m.Connected("task:1") {
		t.Error("Connected after Register = false")
	}
	if m.Connected("task:2") {
		t.Error("Connected(other identifier) = true")
	}
	m.Unregister("a")
	if m.Connected("task:1") {
		t.Error("Connected after Unregister = true")
	}
}

func TestConcurrentConnectsForOneIdentifier(t *testing.T) {
	g := newFakeGateway(t, nil)
	m := newTestManager(t, g.URL)
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Register(context.Background(), "task:1", fmt.Sprintf("tok-%d", i)); err != nil {
				t.Errorf("Register: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := m.Shutdown(context.Background()); err != nil { // waits for the closes
		t.Fatal(err)
	}
	checkMirror(t, m)
	fwd, rev := m.snapshot()
	if len(fwd) != 1 || len(rev) != 1 {
		t.Fatalf("maps hold %d identifiers and %d tokens, want 1 and 1", len(fwd), len(rev))
	}
	// Every replaced token, and only those, was closed once.
	closed := map[string]int{}
	for _, b := range g.bodies() {
		var r wire.SendRequest
		if err := json.Unmarshal([]byte(b), &r); err != nil || !r.Close || r.Event != nil {
			t.Errorf("unexpected request %s", b)
		}
		closed[r.Token]++
	}
	if len(closed) != n-1 {
		t.Errorf("%d distinct tokens closed, want %d", len(closed), n-1)
	}
	for tok, c := range closed {
		if c != 1 {
			t.Errorf("token %s closed %d times", tok, c)
		}
		if tok == fwd["task:1"] {
			t.Errorf("the live token %s was closed", tok)
		}
	}
}

func TestKind(t *testing.T) {
	tests := []struct{ identifier, want string }{
		{"task:42", "task"},
		{"version:abc", "version"},
		{"task:a:b", "task"},
		{"plain", "unknown"},
		{":x", "unknown"},
		{"", "unknown"},
	}
	for _, tt := range tests {
		if got := Kind(tt.identifier); got != tt.want {
			t.Errorf("Kind(%q) = %q, want %q", tt.identifier, got, tt.want)
		}
	}
}

func TestHasPrefix(t *testing.T) {
	f := HasPrefix("version:")
	if !f("version:1") || f("task:1") {
		t.Error("HasPrefix(\"version:\") selects the wrong identifiers")
	}
}

// Shutdown stops every goroutine the manager started: the sweeper and the
// keep-alive connections of its default doer. The gateway stays up, so
// only the manager can end the connections.
func TestShutdownLeavesNoGoroutines(t *testing.T) {
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

// The sweeper is opt-in: a manager made without WithSweepInterval starts no
// goroutine and probes nothing; and Shutdown closes the streams at the
// gateway only with WithCloseOnShutdown.
func TestNoSweeperNorClosesUnlessAsked(t *testing.T) {
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

// The close of a replaced token is posted outside the manager's lock: while
// the gateway holds it, lookups, registrations, unregistrations and sends
// to other identifiers all complete, and the new mapping is already live.
func TestRegisterReplacementCloseHoldsNoLock(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if r.Token == "old" && r.Close {
			close(arrived)
			<-release
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithTimeout(time.Minute))
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock) // before the manager's Shutdown and the gateway's Close
	mustRegister(t, m, "task:1", "old")
	mustRegister(t, m, "task:2", "two")

	registered := make(chan error, 1)
	go func() { registered <- m.Register(context.Background(), "task:1", "new") }()
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
		if err := m.Register(context.Background(), "task:3", "three"); err != nil {
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
func TestMapsMirrorThroughoutWorkload(t *testing.T) {
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
					if err := m.Register(context.Background(), id, tok); err != nil {
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
