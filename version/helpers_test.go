package version_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/conntest"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/version"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sent is one event the fake connection accepted.
type sent struct {
	Token string
	Data  string
}

// fakeConn is the module's fake of *sseconn.Manager, with the event data
// sent to an identifier at hand. Like the manager, which looks the token up
// once a send's turn has come, it resolves the token after the hook.
type fakeConn struct{ *conntest.Conn }

var _ version.Conn = (*fakeConn)(nil)

func newFakeConn() *fakeConn {
	c := conntest.New()
	c.ResolveLate = true
	return &fakeConn{c}
}

// Sent returns the events accepted for identifier, in order.
func (c *fakeConn) Sent(identifier string) []sent {
	var out []sent
	for _, s := range c.ToIdentifier(identifier) {
		out = append(out, sent{Token: s.Token, Data: s.Event.Data})
	}
	return out
}

// Data returns the data of the events accepted for identifier.
func (c *fakeConn) Data(identifier string) []string {
	var out []string
	for _, s := range c.Sent(identifier) {
		out = append(out, s.Data)
	}
	return out
}

// data returns the event data of info.
func data(t *testing.T, v string) string {
	t.Helper()
	return `{"version":"` + v + `"}`
}

// newNotifier returns a notifier over conn with a static source "cur".
func newNotifier(t *testing.T, conn version.Conn, opts ...version.Option) *version.Notifier {
	t.Helper()
	n, err := version.New(conn, version.Static{Version: "cur"}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	checkInvariants(t, n)
	return n
}

// connectReq returns a connect callback request for request id rid.
func connectReq(rid, token string) *callback.Request {
	return &callback.Request{
		Action:     "connect",
		Token:      token,
		URL:        &url.URL{Path: version.DefaultPath, RawQuery: "request_id=" + url.QueryEscape(rid)},
		Identifier: version.Identifier(rid),
		Params:     map[string]string{"request_id": rid},
	}
}

// connect runs n.Connect for rid and fails the test on error.
func connect(t *testing.T, n *version.Notifier, rid, token string) {
	t.Helper()
	resp, err := n.Connect(context.Background(), connectReq(rid, token))
	if err != nil {
		t.Fatalf("Connect(%s): %v", rid, err)
	}
	if resp != nil {
		t.Fatalf("Connect(%s) = %+v, want nil response", rid, resp)
	}
}

// notify runs n.Notify and fails the test on error.
func notify(t *testing.T, n *version.Notifier, rid, v string) version.Delivery {
	t.Helper()
	d, err := n.Notify(context.Background(), rid, version.Info{Version: v})
	if err != nil {
		t.Fatalf("Notify(%s, %s): %v", rid, v, err)
	}
	return d
}

// waitFor waits until cond holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// clock is a manual clock for WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gate blocks the first sends it matches until released; a released send
// then fails with err, or succeeds if err is nil. Sends after the first
// limit matches pass through.
type gate struct {
	match     func(identifier string, ev sseconn.Event) bool
	err       error
	ignoreCtx bool          // block until released even if the send's context ends
	entered   chan struct{} // receives once per blocked send
	release   chan struct{}

	mu    sync.Mutex // guards limit
	limit int
}

func newGate(limit int, match func(identifier string, ev sseconn.Event) bool) *gate {
	return &gate{match: match, limit: limit, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gate) before(ctx context.Context, identifier string, ev sseconn.Event) error {
	if !g.match(identifier, ev) {
		return nil
	}
	g.mu.Lock()
	block := g.limit > 0
	g.limit--
	g.mu.Unlock()
	if !block {
		return nil
	}
	g.entered <- struct{}{}
	if g.ignoreCtx {
		<-g.release
		return g.err
	}
	select {
	case <-g.release:
		return g.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitEntered waits for a send to block in g.
func (g *gate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a send to block")
	}
}

func dataIs(want string) func(string, sseconn.Event) bool {
	return func(_ string, ev sseconn.Event) bool { return strings.Contains(ev.Data, `"`+want+`"`) }
}

// checkInvariants checks n's internal consistency when the test ends.
func checkInvariants(t *testing.T, n *version.Notifier) {
	t.Helper()
	t.Cleanup(func() {
		if err := version.CheckInvariants(n); err != nil {
			t.Errorf("invariants: %v", err)
		}
	})
}
