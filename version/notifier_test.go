package version_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/version"
)

// cmpDelivery compares deliveries by status and the sentinel of Err.
var cmpDelivery = cmp.Comparer(func(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return errors.Is(a, b) || errors.Is(b, a)
})

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		conn version.Conn
		src  version.Source
		ok   bool
	}{
		{"ok", newFakeConn(), version.Static{Version: "1"}, true},
		{"nil conn", nil, version.Static{Version: "1"}, false},
		{"nil source", newFakeConn(), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := version.New(tt.conn, tt.src)
			if got := err == nil && n != nil; got != tt.ok {
				t.Fatalf("New() = %v, %v; want ok=%v", n, err, tt.ok)
			}
		})
	}
}

func TestMatcher(t *testing.T) {
	custom := callback.MatcherFunc(func(u *url.URL) (callback.Match, bool, error) {
		return callback.Match{Identifier: "version:fixed"}, true, nil
	})
	tests := []struct {
		name   string
		opts   []version.Option
		url    string
		wantOK bool
		wantID string
	}{
		{"default", nil, "/api/sse/utils/version?request_id=abc", true, "version:abc"},
		{"default other path", nil, "/api/sse/tasks?request_id=abc", false, ""},
		{"with path", []version.Option{version.WithPath("/v", "rid")}, "/v?rid=x1", true, "version:x1"},
		{"with path keeps default param", []version.Option{version.WithPath("/v", "")}, "/v?request_id=x2", true, "version:x2"},
		{"with matcher", []version.Option{version.WithMatcher(custom)}, "/anything", true, "version:fixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNotifier(t, newFakeConn(), tt.opts...)
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			m, ok, err := n.Matcher().Match(u)
			if err != nil {
				t.Fatalf("Match(%s): %v", tt.url, err)
			}
			if ok != tt.wantOK || m.Identifier != tt.wantID {
				t.Errorf("Match(%s) = %q, %v; want %q, %v", tt.url, m.Identifier, ok, tt.wantID, tt.wantOK)
			}
		})
	}
}

func TestNotifyConnected(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	connect(t, n, "r1", "tok1")

	d := notify(t, n, "r1", "2.0")
	if diff := cmp.Diff(version.Delivery{RequestID: "r1", Status: version.Delivered}, d, cmpDelivery); diff != "" {
		t.Errorf("Notify (-want +got):\n%s", diff)
	}
	want := []sent{{"tok1", data(t, "cur")}, {"tok1", data(t, "2.0")}}
	if diff := cmp.Diff(want, conn.Sent("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if got := n.Pending("r1"); got != 0 {
		t.Errorf("Pending = %d, want 0", got)
	}
}

func TestNotifyPendingFlushedInOrderOnConnect(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)

	for _, v := range []string{"1", "2", "3"} {
		d := notify(t, n, "r1", v)
		want := version.Delivery{RequestID: "r1", Status: version.Pending, Err: sseconn.ErrNotConnected}
		if diff := cmp.Diff(want, d, cmpDelivery); diff != "" {
			t.Errorf("Notify(%s) (-want +got):\n%s", v, diff)
		}
	}
	if got := n.Pending("r1"); got != 3 {
		t.Fatalf("Pending = %d, want 3", got)
	}
	if got := n.PendingRequests(); got != 1 {
		t.Fatalf("PendingRequests = %d, want 1", got)
	}
	connect(t, n, "r1", "tok1")

	want := []string{data(t, "1"), data(t, "2"), data(t, "3")}
	if diff := cmp.Diff(want, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent on connect (-want +got):\n%s", diff)
	}
	if got, gotReqs := n.Pending("r1"), n.PendingRequests(); got != 0 || gotReqs != 0 {
		t.Errorf("after flush Pending = %d, PendingRequests = %d; want 0, 0", got, gotReqs)
	}
}

func TestConnectSendsCurrentVersion(t *testing.T) {
	tests := []struct {
		name string
		src  version.Source
		want string
	}{
		{"static", version.Static{Version: "1.2.3", Changelog: "fixes"}, `{"version":"1.2.3","changelog":"fixes"}`},
		{"timeout", version.SourceFunc(func(context.Context) (version.Info, error) {
			return version.Info{}, fmt.Errorf("fetch: %w", context.DeadlineExceeded)
		}), `{"version":"unknown","error":"timeout"}`},
		{"status", version.SourceFunc(func(context.Context) (version.Info, error) {
			return version.Info{}, &version.StatusError{StatusCode: 404}
		}), `{"version":"unknown","error":"version.json answered status 404"}`},
		{"invalid", version.SourceFunc(func(context.Context) (version.Info, error) {
			return version.ParseInfo([]byte(`{}`))
		}), `{"version":"unknown","error":"invalid version.json"}`},
		{"too large", version.SourceFunc(func(context.Context) (version.Info, error) {
			return version.Info{}, version.ErrBodyTooLarge
		}), `{"version":"unknown","error":"version.json too large"}`},
		{"other error hides details", version.SourceFunc(func(context.Context) (version.Info, error) {
			return version.Info{}, errors.New(`Get "http://10.0.0.7/version.json": connection refused`)
		}), `{"version":"unknown","error":"version source unavailable"}`},
		{"empty static", version.Static{}, `{"version":"unknown","error":"invalid version.json"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeConn()
			n, err := version.New(conn, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			checkInvariants(t, n)
			connect(t, n, "r1", "tok1")
			if diff := cmp.Diff([]string{tt.want}, conn.Data("version:r1")); diff != "" {
				t.Errorf("sent (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnectBadIdentifier(t *testing.T) {
	tests := []struct {
		id         string
		wantStatus int // of a *callback.Rejection; 0 for a plain error
	}{
		{"task:1", 0},
		{"nokind", 0},
		{"version:", 400},
		{"version:" + strings.Repeat("x", 257), 400},
		{"version:a\x00b", 400},
	}
	for _, tt := range tests {
		t.Run(tt.id[:min(len(tt.id), 20)], func(t *testing.T) {
			conn := newFakeConn()
			n := newNotifier(t, conn)
			req := connectReq("x", "tok")
			req.Identifier = tt.id
			_, err := n.Connect(context.Background(), req)
			if err == nil {
				t.Fatalf("Connect(%q) succeeded, want error", tt.id)
			}
			status := 0
			var rej *callback.Rejection
			if errors.As(err, &rej) {
				status = rej.Status
			}
			if status != tt.wantStatus {
				t.Errorf("Connect(%q) = %v (status %d), want status %d", tt.id, err, status, tt.wantStatus)
			}
			if ids := conn.Identifiers(); len(ids) != 0 {
				t.Errorf("registered %v, want nothing", ids)
			}
		})
	}
}

type failingRegister struct{ *fakeConn }

func (failingRegister) Register(context.Context, string, string) error {
	return sseconn.ErrShutdown
}

func TestConnectRegisterFails(t *testing.T) {
	conn := failingRegister{newFakeConn()}
	n := newNotifier(t, conn)
	if _, err := n.Connect(context.Background(), connectReq("r1", "tok")); !errors.Is(err, sseconn.ErrShutdown) {
		t.Fatalf("Connect error = %v, want ErrShutdown", err)
	}
	if got := conn.Sent("version:r1"); len(got) != 0 {
		t.Errorf("sent %v, want nothing", got)
	}
}

func TestDisconnectUnregisters(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	connect(t, n, "r1", "tok1")
	if err := n.Disconnect(context.Background(), &callback.Request{Action: "disconnect", Token: "tok1", Identifier: "version:r1"}); err != nil {
		t.Fatal(err)
	}
	d := notify(t, n, "r1", "2")
	if d.Status != version.Pending || !errors.Is(d.Err, sseconn.ErrNotConnected) {
		t.Errorf("Notify after disconnect = %+v, want Pending with ErrNotConnected", d)
	}
}

func TestFailedFlushStaysPendingInOrder(t *testing.T) {
	conn := newFakeConn()
	failB := true
	var mu sync.Mutex
	conn.SetHook(func(_ context.Context, _ string, ev sseconn.Event) error {
		mu.Lock()
		defer mu.Unlock()
		if failB && strings.Contains(ev.Data, `"b"`) {
			failB = false
			return &sseconn.GatewayError{StatusCode: 500, Code: "WRITE_FAILED", Message: "write failed"}
		}
		return nil
	})
	n := newNotifier(t, conn)
	for _, v := range []string{"a", "b", "c"} {
		notify(t, n, "r1", v)
	}
	connect(t, n, "r1", "tok1")
	if diff := cmp.Diff([]string{data(t, "a")}, conn.Data("version:r1")); diff != "" {
		t.Errorf("first connect sent (-want +got):\n%s", diff)
	}
	if got := n.Pending("r1"); got != 2 {
		t.Fatalf("Pending after failed flush = %d, want 2", got)
	}
	connect(t, n, "r1", "tok2")
	want := []sent{{"tok1", data(t, "a")}, {"tok2", data(t, "b")}, {"tok2", data(t, "c")}}
	if diff := cmp.Diff(want, conn.Sent("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestNotifyRetriesPendingAfterFailedSend(t *testing.T) {
	conn := newFakeConn()
	var fail sync.Once
	conn.SetHook(func(context.Context, string, sseconn.Event) error {
		var err error
		fail.Do(func() { err = context.DeadlineExceeded })
		return err
	})
	n := newNotifier(t, conn)
	connect(t, n, "r1", "tok1") // the current version fails to send
	if got := conn.Data("version:r1"); len(got) != 0 {
		t.Fatalf("sent %v, want nothing", got)
	}
	if got := n.Pending("r1"); got != 0 {
		t.Errorf("Pending = %d: the current-version event must not be kept", got)
	}
	conn.SetHook(nil)
	notify(t, n, "r1", "2")
	if diff := cmp.Diff([]string{data(t, "2")}, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestNotifyAfterFailureSendsBacklogFirst(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	connect(t, n, "r1", "tok1")

	conn.SetHook(func(context.Context, string, sseconn.Event) error {
		return &sseconn.GatewayError{StatusCode: 502, Message: "Bad Gateway"}
	})
	d := notify(t, n, "r1", "a")
	var ge *sseconn.GatewayError
	if d.Status != version.Pending || !errors.As(d.Err, &ge) {
		t.Fatalf("Notify(a) = %+v, want Pending with the gateway error", d)
	}
	conn.SetHook(nil)
	d = notify(t, n, "r1", "b")
	if d.Status != version.Delivered {
		t.Fatalf("Notify(b) = %+v, want Delivered", d)
	}
	want := []string{data(t, "cur"), data(t, "a"), data(t, "b")}
	if diff := cmp.Diff(want, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestNotifyInvalid(t *testing.T) {
	tests := []struct {
		name    string
		rid     string
		info    version.Info
		wantErr error
	}{
		{"empty request id", "", version.Info{Version: "1"}, version.ErrInvalidRequestID},
		{"colon", "a:b", version.Info{Version: "1"}, version.ErrInvalidRequestID},
		{"too long", strings.Repeat("x", 257), version.Info{Version: "1"}, version.ErrInvalidRequestID},
		{"control character", "a\nb", version.Info{Version: "1"}, version.ErrInvalidRequestID},
		{"empty version", "r1", version.Info{Changelog: "x"}, version.ErrInvalidInfo},
		{"huge changelog", "r1", version.Info{Version: "1", Changelog: strings.Repeat("x", 200<<10)}, version.ErrInvalidInfo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeConn()
			n := newNotifier(t, conn)
			d, err := n.Notify(context.Background(), tt.rid, tt.info)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Notify error = %v, want %v", err, tt.wantErr)
			}
			if d.Status != version.Dropped {
				t.Errorf("Status = %v, want dropped", d.Status)
			}
			if got := n.PendingRequests(); got != 0 {
				t.Errorf("PendingRequests = %d, want 0", got)
			}
		})
	}
}

func TestNotifyEventRejectedByConn(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	// Pending while disconnected, rejected at flush: it must not block the
	// events after it.
	notify(t, n, "r1", "big")
	notify(t, n, "r1", "ok")
	conn.SetHook(func(_ context.Context, _ string, ev sseconn.Event) error {
		if strings.Contains(ev.Data, `"big"`) {
			return fmt.Errorf("send: %w", sseconn.ErrTooLarge)
		}
		return nil
	})
	connect(t, n, "r1", "tok1")
	if diff := cmp.Diff([]string{data(t, "ok")}, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	// Rejected on a live send: Notify reports it.
	d, err := n.Notify(context.Background(), "r1", version.Info{Version: "big"})
	if !errors.Is(err, sseconn.ErrTooLarge) || !errors.Is(d.Err, version.ErrDropped) || d.Status != version.Dropped {
		t.Errorf("Notify(big) = %+v, %v; want Dropped with ErrTooLarge", d, err)
	}
	if got := n.Pending("r1"); got != 0 {
		t.Errorf("Pending = %d, want 0", got)
	}
}

func TestPendingLimitDropsOldest(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithPendingLimit(2))
	for _, v := range []string{"1", "2", "3", "4"} {
		notify(t, n, "r1", v)
	}
	if got := n.Pending("r1"); got != 2 {
		t.Fatalf("Pending = %d, want 2", got)
	}
	connect(t, n, "r1", "tok1")
	if diff := cmp.Diff([]string{data(t, "3"), data(t, "4")}, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestPendingTTL(t *testing.T) {
	clk := newClock()
	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithPendingTTL(10*time.Minute), version.WithClock(clk.Now))

	notify(t, n, "r1", "old")
	notify(t, n, "gone", "x")
	clk.Advance(6 * time.Minute)
	notify(t, n, "r1", "new")
	if got, gotReqs := n.Pending("r1"), n.PendingRequests(); got != 2 || gotReqs != 2 {
		t.Fatalf("Pending = %d, PendingRequests = %d; want 2, 2", got, gotReqs)
	}

	clk.Advance(5 * time.Minute) // "old" and "gone"'s event have expired
	if got := n.PendingRequests(); got != 1 {
		t.Errorf("PendingRequests = %d, want 1: the expired request id must be removed", got)
	}
	if got := n.Pending("r1"); got != 1 {
		t.Errorf("Pending(r1) = %d, want 1", got)
	}
	connect(t, n, "r1", "tok1")
	if diff := cmp.Diff([]string{data(t, "new")}, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}

	clk.Advance(time.Hour)
	connect(t, n, "gone", "tok2")
	if diff := cmp.Diff([]string{data(t, "cur")}, conn.Data("version:gone")); diff != "" {
		t.Errorf("expired request id got (-want +got):\n%s", diff)
	}
}

func TestExpiryIsLazyOnEveryAccess(t *testing.T) {
	clk := newClock()
	n := newNotifier(t, newFakeConn(), version.WithPendingTTL(time.Minute), version.WithClock(clk.Now))
	for i := range 100 {
		notify(t, n, fmt.Sprint("r", i), "1")
	}
	clk.Advance(2 * time.Minute)
	// Any use removes every expired request id, not just the one used.
	notify(t, n, "fresh", "1")
	if got := n.PendingRequests(); got != 1 {
		t.Errorf("PendingRequests = %d, want 1", got)
	}
}

func TestMaxPendingRequestsEvictsLeastRecent(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithMaxPendingRequests(2))
	notify(t, n, "r1", "1")
	notify(t, n, "r2", "1")
	notify(t, n, "r1", "2") // r1 is now the most recent
	notify(t, n, "r3", "1")

	got := map[string]int{}
	for _, rid := range []string{"r1", "r2", "r3"} {
		got[rid] = n.Pending(rid)
	}
	if diff := cmp.Diff(map[string]int{"r1": 2, "r2": 0, "r3": 1}, got); diff != "" {
		t.Errorf("Pending (-want +got):\n%s", diff)
	}
	if got := n.PendingRequests(); got != 2 {
		t.Errorf("PendingRequests = %d, want 2", got)
	}
}

func TestNotifyToConnectedBrowserEvictsNothing(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithMaxPendingRequests(1))
	notify(t, n, "waiting", "1")
	connect(t, n, "live", "tok")
	notify(t, n, "live", "2")
	if got := n.Pending("waiting"); got != 1 {
		t.Errorf("Pending(waiting) = %d, want 1", got)
	}
}

func TestSecondConnectReplacesFirst(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	connect(t, n, "r1", "tok1")
	connect(t, n, "r1", "tok2")
	// The first stream's late disconnect must not remove the second.
	if err := n.Disconnect(context.Background(), &callback.Request{Action: "disconnect", Token: "tok1"}); err != nil {
		t.Fatal(err)
	}
	notify(t, n, "r1", "2")
	want := []sent{{"tok1", data(t, "cur")}, {"tok2", data(t, "cur")}, {"tok2", data(t, "2")}}
	if diff := cmp.Diff(want, conn.Sent("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestNotifyDuringFlushWaitsAndKeepsOrder(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	notify(t, n, "r1", "p1")
	notify(t, n, "r1", "p2")
	g := newGate(1, dataIs("p1"))
	conn.SetHook(g.before)

	connectDone := make(chan error, 1)
	go func() {
		_, err := n.Connect(context.Background(), connectReq("r1", "tok1"))
		connectDone <- err
	}()
	g.waitEntered(t) // the flush is sending p1

	notifyDone := make(chan version.Delivery, 1)
	go func() {
		d, _ := n.Notify(context.Background(), "r1", version.Info{Version: "live"})
		notifyDone <- d
	}()
	waitFor(t, "Notify to queue behind the flush", func() bool { return n.Pending("r1") == 3 })
	close(g.release)

	if err := <-connectDone; err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if d := <-notifyDone; d.Status != version.Delivered {
		t.Errorf("Notify = %+v, want Delivered", d)
	}
	want := []string{data(t, "p1"), data(t, "p2"), data(t, "live")}
	if diff := cmp.Diff(want, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestNotifyWaitingForFlushHonoursContext(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	notify(t, n, "r1", "p1")
	g := newGate(1, dataIs("p1"))
	conn.SetHook(g.before)
	connectDone := make(chan error, 1)
	go func() {
		_, err := n.Connect(context.Background(), connectReq("r1", "tok1"))
		connectDone <- err
	}()
	g.waitEntered(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := n.Notify(ctx, "r1", version.Info{Version: "live"})
	if err != nil || d.Status != version.Pending || !errors.Is(d.Err, context.Canceled) {
		t.Errorf("Notify = %+v, %v; want Pending with context.Canceled", d, err)
	}
	close(g.release)
	if err := <-connectDone; err != nil {
		t.Fatal(err)
	}
	// The flush in progress delivered it anyway.
	want := []string{data(t, "p1"), data(t, "live")}
	if diff := cmp.Diff(want, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestConnectDuringNotifySendResendsIt(t *testing.T) {
	// A Notify send that started before the browser registered (so it may
	// have reached no stream or a replaced one) is sent again instead of the
	// possibly older current version.
	conn := newFakeConn()
	g := newGate(1, dataIs("new"))
	conn.SetHook(g.before)
	n := newNotifier(t, conn)
	waiting := make(chan struct{}, 1)
	version.SetConnectWaitHook(n, func() { waiting <- struct{}{} })

	notifyDone := make(chan version.Delivery, 1)
	go func() {
		d, _ := n.Notify(context.Background(), "r1", version.Info{Version: "new"})
		notifyDone <- d
	}()
	g.waitEntered(t)
	connectDone := make(chan error, 1)
	go func() {
		_, err := n.Connect(context.Background(), connectReq("r1", "tok1"))
		connectDone <- err
	}()
	<-waiting // Connect registered and waits for the Notify's flush
	close(g.release)
	if d := <-notifyDone; d.Status != version.Delivered {
		t.Errorf("Notify = %+v, want Delivered", d)
	}
	if err := <-connectDone; err != nil {
		t.Fatal(err)
	}
	want := []string{data(t, "new"), data(t, "new")}
	if diff := cmp.Diff(want, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestConnectWaitTimesOutAndHandsOff(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithSendTimeout(50*time.Millisecond))
	notify(t, n, "r1", "p1")
	// The next send of p1 blocks until released and then fails, as a send
	// to a browser that was not connected yet would.
	g := newGate(1, dataIs("p1"))
	g.err, g.ignoreCtx = sseconn.ErrNotConnected, true
	conn.SetHook(g.before)

	first := make(chan version.Delivery, 1)
	go func() {
		d, _ := n.Notify(context.Background(), "r1", version.Info{Version: "p2"})
		first <- d
	}()
	g.waitEntered(t)
	// Connect gives up waiting for the flush after its 50 ms budget and
	// hands it off; it must not fail.
	connect(t, n, "r1", "tok1")
	close(g.release)
	// The drainer's send fails, but a browser connected meanwhile, so it
	// retries and delivers p1 and p2.
	if d := <-first; d.Status != version.Delivered {
		t.Errorf("Notify = %+v, want Delivered", d)
	}
	want := []string{data(t, "p1"), data(t, "p2")}
	if diff := cmp.Diff(want, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestBroadcast(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	for _, rid := range []string{"a", "b", "c"} {
		connect(t, n, rid, "tok-"+rid)
	}
	if err := conn.Register(context.Background(), "task:1", "tok-task"); err != nil {
		t.Fatal(err)
	}
	notify(t, n, "offline", "1")
	conn.SetHook(func(_ context.Context, id string, ev sseconn.Event) error {
		if id == "version:b" && strings.Contains(ev.Data, `"2.0"`) {
			return &sseconn.GatewayError{StatusCode: 500, Code: "WRITE_FAILED"}
		}
		return nil
	})

	got, err := n.Broadcast(context.Background(), version.Info{Version: "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []version.Delivery{
		{RequestID: "a", Status: version.Delivered},
		{RequestID: "b", Status: version.Pending, Err: &sseconn.GatewayError{}},
		{RequestID: "c", Status: version.Delivered},
	}
	opt := cmp.Comparer(func(a, b error) bool {
		var ga, gb *sseconn.GatewayError
		return (a == nil) == (b == nil) && errors.As(a, &ga) == errors.As(b, &gb)
	})
	if diff := cmp.Diff(want, got, opt); diff != "" {
		t.Errorf("Broadcast (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{data(t, "cur"), data(t, "2.0")}, conn.Data("version:a")); diff != "" {
		t.Errorf("a got (-want +got):\n%s", diff)
	}
	if got := conn.Sent("task:1"); len(got) != 0 {
		t.Errorf("task:1 got %v; broadcast must only reach version streams", got)
	}
	// The failed event is pending for b and reaches its next stream.
	conn.SetHook(nil)
	connect(t, n, "b", "tok-b2")
	want2 := []sent{{"tok-b", data(t, "cur")}, {"tok-b2", data(t, "2.0")}}
	if diff := cmp.Diff(want2, conn.Sent("version:b")); diff != "" {
		t.Errorf("b got (-want +got):\n%s", diff)
	}
}

func TestBroadcastInvalid(t *testing.T) {
	n := newNotifier(t, newFakeConn())
	if _, err := n.Broadcast(context.Background(), version.Info{}); !errors.Is(err, version.ErrInvalidInfo) {
		t.Errorf("Broadcast error = %v, want ErrInvalidInfo", err)
	}
}

func TestBroadcastQueuesBehindFlush(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn)
	connect(t, n, "other", "tok-o")
	notify(t, n, "r1", "p1")
	notify(t, n, "r1", "p2")
	g := newGate(1, dataIs("p1"))
	conn.SetHook(g.before)
	connectDone := make(chan error, 1)
	go func() {
		_, err := n.Connect(context.Background(), connectReq("r1", "tok1"))
		connectDone <- err
	}()
	g.waitEntered(t) // r1's flush is sending p1

	bcDone := make(chan []version.Delivery, 1)
	go func() {
		ds, _ := n.Broadcast(context.Background(), version.Info{Version: "deploy"})
		bcDone <- ds
	}()
	waitFor(t, "broadcast to queue behind the flush", func() bool { return n.Pending("r1") == 3 })
	close(g.release)
	if err := <-connectDone; err != nil {
		t.Fatal(err)
	}
	got := <-bcDone
	want := []version.Delivery{
		{RequestID: "other", Status: version.Delivered},
		{RequestID: "r1", Status: version.Delivered},
	}
	if diff := cmp.Diff(want, got, cmpDelivery); diff != "" {
		t.Errorf("Broadcast (-want +got):\n%s", diff)
	}
	wantSent := []string{data(t, "p1"), data(t, "p2"), data(t, "deploy")}
	if diff := cmp.Diff(wantSent, conn.Data("version:r1")); diff != "" {
		t.Errorf("r1 got (-want +got):\n%s", diff)
	}
}

func TestBroadcastQueuesBehindCurrentVersion(t *testing.T) {
	// A browser whose connect is still asking the Source gets the
	// broadcast after the current version, never before it.
	conn := newFakeConn()
	asked := make(chan struct{})
	answer := make(chan struct{})
	src := version.SourceFunc(func(context.Context) (version.Info, error) {
		close(asked)
		<-answer
		return version.Info{Version: "cur"}, nil
	})
	n, err := version.New(conn, src)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, n)
	connectDone := make(chan error, 1)
	go func() {
		_, err := n.Connect(context.Background(), connectReq("r1", "tok1"))
		connectDone <- err
	}()
	<-asked
	bcDone := make(chan []version.Delivery, 1)
	go func() {
		ds, _ := n.Broadcast(context.Background(), version.Info{Version: "deploy"})
		bcDone <- ds
	}()
	waitFor(t, "broadcast to queue", func() bool { return n.Pending("r1") == 1 })
	close(answer)
	if err := <-connectDone; err != nil {
		t.Fatal(err)
	}
	got := <-bcDone
	if diff := cmp.Diff([]version.Delivery{{RequestID: "r1", Status: version.Delivered}}, got, cmpDelivery); diff != "" {
		t.Errorf("Broadcast (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{data(t, "cur"), data(t, "deploy")}, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

// TestConcurrentNotifyAndConnect hammers one request id with producers and
// reconnects and checks that every event is delivered exactly once and in
// each producer's order.
func TestConcurrentNotifyAndConnect(t *testing.T) {
	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithPendingLimit(1000))
	const producers, perProducer, connects = 4, 50, 20

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				if _, err := n.Notify(context.Background(), "r1", version.Info{Version: fmt.Sprintf("p%d-%03d", p, i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range connects {
			tok := fmt.Sprint("tok", i)
			if _, err := n.Connect(context.Background(), connectReq("r1", tok)); err != nil {
				t.Error(err)
			}
			if i%2 == 0 {
				_ = n.Disconnect(context.Background(), &callback.Request{Action: "disconnect", Token: tok})
			}
		}
	})
	wg.Wait()
	connect(t, n, "r1", "final")

	last := map[string]string{}
	seen := map[string]int{}
	for _, d := range conn.Data("version:r1") {
		if d == data(t, "cur") {
			continue
		}
		v := strings.TrimSuffix(strings.TrimPrefix(d, `{"version":"`), `"}`)
		seen[v]++
		prod, seq, _ := strings.Cut(v, "-")
		if seq <= last[prod] && last[prod] != "" {
			// A resent event (see TestConnectDuringNotifySendResendsIt)
			// may repeat the latest one; nothing else goes backwards.
			if seq != last[prod] {
				t.Errorf("producer %s: %s after %s", prod, seq, last[prod])
			}
		}
		last[prod] = max(last[prod], seq)
	}
	var missing []string
	for p := range producers {
		for i := range perProducer {
			if v := fmt.Sprintf("p%d-%03d", p, i); seen[v] == 0 {
				missing = append(missing, v)
			}
		}
	}
	if len(missing) > 0 {
		t.Errorf("events never delivered: %v", missing)
	}
	if got := n.Pending("r1"); got != 0 {
		t.Errorf("Pending = %d, want 0", got)
	}
}

func TestStatusString(t *testing.T) {
	got := []string{version.Delivered.String(), version.Pending.String(), version.Dropped.String(), version.Status(0).String()}
	if diff := cmp.Diff([]string{"delivered", "pending", "dropped", "Status(0)"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestConnectSourcePanics(t *testing.T) {
	conn := newFakeConn()
	src := version.SourceFunc(func(context.Context) (version.Info, error) { panic("boom") })
	n, err := version.New(conn, src)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, n)
	connect(t, n, "r1", "tok1")
	if diff := cmp.Diff([]string{`{"version":"unknown","error":"version source unavailable"}`}, conn.Data("version:r1")); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	// The flush was released: a Notify is delivered at once.
	if d := notify(t, n, "r1", "2"); d.Status != version.Delivered {
		t.Errorf("Notify = %+v, want Delivered", d)
	}
}

func TestRandomOperationsKeepBounds(t *testing.T) {
	const limit, maxReqs = 3, 4
	clk := newClock()
	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithPendingLimit(limit), version.WithMaxPendingRequests(maxReqs),
		version.WithPendingTTL(time.Minute), version.WithClock(clk.Now))
	rng := rand.New(rand.NewPCG(1, 2))
	rids := []string{"a", "b", "c", "d", "e", "f"}
	var failing atomic.Bool
	conn.SetHook(func(context.Context, string, sseconn.Event) error {
		if failing.Load() {
			return &sseconn.GatewayError{StatusCode: 500}
		}
		return nil
	})
	for i := range 3000 {
		rid := rids[rng.IntN(len(rids))]
		failing.Store(rng.IntN(5) == 0)
		switch op := rng.IntN(10); {
		case op < 5:
			notify(t, n, rid, fmt.Sprint(i))
		case op < 7:
			connect(t, n, rid, fmt.Sprint("tok", i))
		case op < 8:
			tok, _ := conn.Token("version:" + rid)
			_ = n.Disconnect(context.Background(), &callback.Request{Action: "disconnect", Token: tok})
		case op < 9:
			if _, err := n.Broadcast(context.Background(), version.Info{Version: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		default:
			clk.Advance(time.Duration(rng.IntN(40)) * time.Second)
		}
		if err := version.CheckInvariants(n); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := n.PendingRequests(); got > maxReqs {
			t.Fatalf("step %d: %d request ids pending, max %d", i, got, maxReqs)
		}
		for _, r := range rids {
			if got := n.Pending(r); got > limit {
				t.Fatalf("step %d: %d events pending for %s, limit %d", i, got, r, limit)
			}
		}
	}
}
