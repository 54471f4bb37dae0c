package sseconn

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// answer is what the fake gateway replies.
type answer struct {
	status      int
	contentType string
	body        string
}

var (
	answerOK       = answer{200, "application/json; charset=utf-8", `{"status":"ok"}`}
	answerBuffered = answer{200, "application/json; charset=utf-8", `{"status":"buffered"}`}
	answerGone     = answer{404, "application/json; charset=utf-8", `{"error":{"message":"Token not found","code":"TOKEN_NOT_FOUND"}}`}
)

// fakeGateway is a loopback HTTP server standing in for the gateway's
// /internal/send. It records every raw body and answers with answerFn.
type fakeGateway struct {
	*httptest.Server
	mu       sync.Mutex // guards raw
	raw      []string
	answerFn func(req wire.SendRequest) answer
}

func newFakeGateway(t *testing.T, answerFn func(req wire.SendRequest) answer) *fakeGateway {
	t.Helper()
	g := &fakeGateway{answerFn: answerFn}
	if g.answerFn == nil {
		g.answerFn = func(wire.SendRequest) answer { return answerOK }
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != wire.SendPath {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		g.mu.Lock()
		g.raw = append(g.raw, string(b))
		g.mu.Unlock()
		var req wire.SendRequest
		_ = json.Unmarshal(b, &req)
		a := g.answerFn(req)
		w.Header().Set("Content-Type", a.contentType)
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(g.Close)
	return g
}

// bodies returns the raw bodies received so far.
func (g *fakeGateway) bodies() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.raw...)
}

// newTestManager returns a manager for g that is shut down at cleanup.
func newTestManager(t *testing.T, url string, opts ...Option) *Manager {
	t.Helper()
	m, err := New(url, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return m
}

// mustRegister registers or fails the test.
func mustRegister(t *testing.T, m *Manager, identifier, token string) {
	t.Helper()
	if err := m.Register(context.Background(), identifier, token); err != nil {
		t.Fatalf("Register(%q, %q): %v", identifier, token, err)
	}
}

// snapshot returns copies of both maps.
func (m *Manager) snapshot() (fwd, rev map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fwd, rev = make(map[string]string), make(map[string]string)
	m.maps.each(func(id string, tok tokenRef) { fwd[id] = tok.String() })
	m.maps.eachToken(func(tok, id string) { rev[tok] = id })
	return fwd, rev
}

// checkMirror fails t unless the forward and reverse maps mirror each other.
func checkMirror(t *testing.T, m *Manager) {
	t.Helper()
	fwd, rev := m.snapshot()
	if len(fwd) != len(rev) {
		t.Errorf("maps differ in size: %d identifiers, %d tokens", len(fwd), len(rev))
	}
	for id, tok := range fwd {
		if rev[tok] != id {
			t.Errorf("fwd[%q]=%q but rev[%q]=%q", id, tok, tok, rev[tok])
		}
	}
	for tok, id := range rev {
		if fwd[id] != tok {
			t.Errorf("rev[%q]=%q but fwd[%q]=%q", tok, id, id, fwd[id])
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
