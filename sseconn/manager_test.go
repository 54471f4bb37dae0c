package sseconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

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
