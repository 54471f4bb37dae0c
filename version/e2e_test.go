package version_test

// End-to-end tests: gatewaytest (a protocol-faithful gateway) calls a real
// callback.Handler over loopback HTTP, the notifier sends through a real
// sseconn.Manager, and the events are read from real SSE streams.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/version"
)

var _ version.Conn = (*sseconn.Manager)(nil)

const e2eSecret = "e2e-secret"

// stack is a gateway, a backend with the callback handler, a manager and a
// notifier, wired together over loopback.
type stack struct {
	gw  *gatewaytest.Server
	mgr *sseconn.Manager
	n   *version.Notifier
}

type stackConfig struct {
	gen        int
	src        version.Source
	opts       []version.Option
	mgrOpts    []sseconn.Option
	extraRoute func(mgr *sseconn.Manager) callback.Option
}

func newStack(t *testing.T, sc stackConfig) *stack {
	t.Helper()
	var handler atomic.Pointer[callback.Handler]
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/sse/callback" {
			http.NotFound(w, r)
			return
		}
		handler.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(backend.Close)

	// The gateway must exist before the manager (which needs its URL); the
	// handler is installed before any browser connects.
	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret="+e2eSecret,
		gatewaytest.WithGeneration(sc.gen))
	mgr, err := sseconn.New(gw.URL, sc.mgrOpts...)
	if err != nil {
		gw.Close()
		t.Fatalf("sseconn.New: %v", err)
	}
	src := sc.src
	if src == nil {
		src = version.Static{Version: "cur"}
	}
	n, err := version.New(mgr, src, sc.opts...)
	if err != nil {
		t.Fatalf("version.New: %v", err)
	}
	checkInvariants(t, n)
	hopts := []callback.Option{callback.WithSecret(e2eSecret), callback.WithRoute(n.Matcher(), n)}
	if sc.extraRoute != nil {
		hopts = append(hopts, sc.extraRoute(mgr))
	}
	h, err := callback.NewHandler(hopts...)
	if err != nil {
		t.Fatalf("callback.NewHandler: %v", err)
	}
	handler.Store(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Close() // ends streams; waits for the disconnect callbacks
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("handler Shutdown: %v", err)
		}
		if err := mgr.Shutdown(ctx); err != nil {
			t.Errorf("manager Shutdown: %v", err)
		}
	})
	return &stack{gw: gw, mgr: mgr, n: n}
}

// open connects a browser to the version route for rid.
func (s *stack) open(t *testing.T, rid string) *gatewaytest.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.gw.Connect(ctx, "/api/sse/utils/version?request_id="+url.QueryEscape(rid), nil)
	if err != nil {
		t.Fatalf("Connect(%s): %v", rid, err)
	}
	t.Cleanup(st.Close)
	if st.StatusCode != http.StatusOK {
		t.Fatalf("Connect(%s): status %d, body %s", rid, st.StatusCode, st.Body())
	}
	return st
}

// next returns the next event the backend sent on st (the generation-2
// envelope unwrapped, "ready" skipped).
func next(t *testing.T, st *gatewaytest.Stream) gatewaytest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if ev.Name == "ready" {
			continue
		}
		return ev.Unwrap()
	}
}

// nextData reads n events and returns their data, checking their name.
func nextData(t *testing.T, st *gatewaytest.Stream, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ev := next(t, st)
		if ev.Name != version.EventName {
			t.Fatalf("event %+v, want name %q", ev, version.EventName)
		}
		out = append(out, ev.Data)
	}
	return out
}

// waitEnded waits for st to end, failing if a backend event arrives first.
func waitEnded(t *testing.T, st *gatewaytest.Stream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("Next: %v, want io.EOF", err)
		}
		if ev.Name != "ready" {
			t.Fatalf("got %+v on a stream that should have ended", ev.Unwrap())
		}
	}
}

func forEachGeneration(t *testing.T, f func(t *testing.T, gen int)) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprint("gen", gen), func(t *testing.T) { f(t, gen) })
	}
}

func TestE2EPendingFlushedOnConnectThenLive(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, gen int) {
		s := newStack(t, stackConfig{gen: gen})
		for _, v := range []string{"1", "2", "3"} {
			if d := notify(t, s.n, "r1", v); d.Status != version.Pending {
				t.Fatalf("Notify(%s) = %+v, want Pending", v, d)
			}
		}
		st := s.open(t, "r1")
		want := []string{data(t, "1"), data(t, "2"), data(t, "3")}
		if diff := cmp.Diff(want, nextData(t, st, 3)); diff != "" {
			t.Errorf("flushed (-want +got):\n%s", diff)
		}
		if d := notify(t, s.n, "r1", "4"); d.Status != version.Delivered {
			t.Fatalf("Notify(4) = %+v, want Delivered", d)
		}
		if diff := cmp.Diff([]string{data(t, "4")}, nextData(t, st, 1)); diff != "" {
			t.Errorf("live (-want +got):\n%s", diff)
		}
		if got := s.n.Pending("r1"); got != 0 {
			t.Errorf("Pending = %d, want 0", got)
		}
	})
}

func TestE2EFailedFlushRequeuedForNextConnect(t *testing.T) {
	tests := []struct {
		name  string
		fault func(s *stack)
	}{
		// A 500 from a proxy in front of the gateway is never retried.
		{"proxy 500", func(s *stack) { s.gw.FailNextSends(1, http.StatusInternalServerError) }},
		// A 503 would be retried by the default policy; without retries it
		// fails the send.
		{"proxy 503 without retries", func(s *stack) { s.gw.FailNextSends(1, http.StatusServiceUnavailable) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, stackConfig{gen: 2, mgrOpts: []sseconn.Option{
				sseconn.WithRetryPolicy(sseconn.RetryPolicy{MaxAttempts: 1}),
			}})
			notify(t, s.n, "r1", "a")
			notify(t, s.n, "r1", "b")

			tt.fault(s)
			first := s.open(t, "r1") // the flush's first send fails
			if got := s.n.Pending("r1"); got != 2 {
				t.Fatalf("Pending after failed flush = %d, want 2", got)
			}
			first.Close()

			second := s.open(t, "r1")
			want := []string{data(t, "a"), data(t, "b")}
			if diff := cmp.Diff(want, nextData(t, second, 2)); diff != "" {
				t.Errorf("second connect got (-want +got):\n%s", diff)
			}
			waitEnded(t, first)
		})
	}
}

func TestE2EDroppedStreamRequeues(t *testing.T) {
	// A write to the browser that fails (500 WRITE_FAILED) keeps the event
	// pending for the next connect.
	s := newStack(t, stackConfig{gen: 2})
	first := s.open(t, "r1")
	if diff := cmp.Diff([]string{data(t, "cur")}, nextData(t, first, 1)); diff != "" {
		t.Fatalf("first connect (-want +got):\n%s", diff)
	}
	s.gw.DropStream(first.Token())
	d := notify(t, s.n, "r1", "lost")
	var ge *sseconn.GatewayError
	if d.Status != version.Pending || !errors.As(d.Err, &ge) || ge.Code != "WRITE_FAILED" {
		t.Fatalf("Notify = %+v, want Pending with WRITE_FAILED", d)
	}
	waitEnded(t, first)
	second := s.open(t, "r1")
	if diff := cmp.Diff([]string{data(t, "lost")}, nextData(t, second, 1)); diff != "" {
		t.Errorf("second connect (-want +got):\n%s", diff)
	}
}

func TestE2ECurrentVersionFromHTTPSource(t *testing.T) {
	vs := newVersionServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"9.9.9","changelog":"Faster","built":"2026-01-01"}`)
	})
	src := newSource(t, vs.url())
	forEachGeneration(t, func(t *testing.T, gen int) {
		s := newStack(t, stackConfig{gen: gen, src: src})
		st := s.open(t, "r1")
		want := []string{`{"version":"9.9.9","changelog":"Faster"}`}
		if diff := cmp.Diff(want, nextData(t, st, 1)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	if got := vs.hits.Load(); got != 1 {
		t.Errorf("%d fetches of version.json, want 1 (cached)", got)
	}
}

func TestE2ESourceFailureSendsUnknown(t *testing.T) {
	release := make(chan struct{})
	slow := newVersionServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	broken := newVersionServer(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	})
	garbage := newVersionServer(t, func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<html>not json</html>`)
	})
	tests := []struct {
		name string
		src  version.Source
		want string
	}{
		{"timeout", newSource(t, slow.url(), version.WithFetchTimeout(100*time.Millisecond)),
			`{"version":"unknown","error":"timeout"}`},
		{"status", newSource(t, broken.url()),
			`{"version":"unknown","error":"version.json answered status 502"}`},
		{"bad json", newSource(t, garbage.url()),
			`{"version":"unknown","error":"invalid version.json"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, stackConfig{gen: 2, src: tt.src})
			st := s.open(t, "r1") // fails the test unless the connect succeeded
			if diff := cmp.Diff([]string{tt.want}, nextData(t, st, 1)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The stream is usable.
			notify(t, s.n, "r1", "2")
			if diff := cmp.Diff([]string{data(t, "2")}, nextData(t, st, 1)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestE2ESecondBrowserReplacesFirst(t *testing.T) {
	forEachGeneration(t, func(t *testing.T, gen int) {
		s := newStack(t, stackConfig{gen: gen})
		first := s.open(t, "r1")
		if diff := cmp.Diff([]string{data(t, "cur")}, nextData(t, first, 1)); diff != "" {
			t.Fatalf("first (-want +got):\n%s", diff)
		}
		second := s.open(t, "r1")
		if diff := cmp.Diff([]string{data(t, "cur")}, nextData(t, second, 1)); diff != "" {
			t.Fatalf("second (-want +got):\n%s", diff)
		}
		waitEnded(t, first) // the manager closed the replaced stream

		if d := notify(t, s.n, "r1", "2"); d.Status != version.Delivered {
			t.Fatalf("Notify = %+v, want Delivered", d)
		}
		if diff := cmp.Diff([]string{data(t, "2")}, nextData(t, second, 1)); diff != "" {
			t.Errorf("second after notify (-want +got):\n%s", diff)
		}
		if tok, _ := s.mgr.Token("version:r1"); tok != second.Token() {
			t.Errorf("mapping holds %q, want the second stream's %q", tok, second.Token())
		}
	})
}

// taskService registers task streams in the same manager, so that
// broadcasts can be shown to skip them.
type taskService struct{ mgr *sseconn.Manager }

func (s taskService) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	return nil, s.mgr.Register(ctx, req.Identifier, req.Token)
}

func (s taskService) Disconnect(_ context.Context, req *callback.Request) error {
	s.mgr.Unregister(req.Token)
	return nil
}

func TestE2EBroadcast(t *testing.T) {
	s := newStack(t, stackConfig{gen: 2, extraRoute: func(mgr *sseconn.Manager) callback.Option {
		return callback.WithRoute(callback.Query("task", "/api/sse/tasks", "task_id"), taskService{mgr})
	}})
	streams := map[string]*gatewaytest.Stream{}
	for _, rid := range []string{"a", "b", "c"} {
		streams[rid] = s.open(t, rid)
		nextData(t, streams[rid], 1) // the current version
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	task, err := s.gw.Connect(ctx, "/api/sse/tasks?task_id=7", nil)
	if err != nil || task.StatusCode != http.StatusOK {
		t.Fatalf("task connect: %v", err)
	}
	t.Cleanup(task.Close)
	s.gw.DropStream(streams["b"].Token()) // b's write will fail

	got, err := s.n.Broadcast(context.Background(), version.Info{Version: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		RequestID string
		Status    version.Status
		Code      string
	}
	var outcomes []outcome
	for _, d := range got {
		o := outcome{RequestID: d.RequestID, Status: d.Status}
		var ge *sseconn.GatewayError
		if errors.As(d.Err, &ge) {
			o.Code = ge.Code
		}
		outcomes = append(outcomes, o)
	}
	want := []outcome{
		{"a", version.Delivered, ""},
		{"b", version.Pending, "WRITE_FAILED"},
		{"c", version.Delivered, ""},
	}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("Broadcast (-want +got):\n%s", diff)
	}
	for _, rid := range []string{"a", "c"} {
		if diff := cmp.Diff([]string{data(t, "deploy")}, nextData(t, streams[rid], 1)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", rid, diff)
		}
	}
	for _, sr := range s.gw.Sends() {
		if sr.Token == task.Token() && sr.Event != nil {
			t.Errorf("the task stream was sent %+v", sr.Event)
		}
	}
	// b reconnects and gets the broadcast it missed.
	waitEnded(t, streams["b"])
	b2 := s.open(t, "b")
	if diff := cmp.Diff([]string{data(t, "deploy")}, nextData(t, b2, 1)); diff != "" {
		t.Errorf("b after reconnect (-want +got):\n%s", diff)
	}
}

func TestE2EPendingLimitAndTTL(t *testing.T) {
	clk := newClock()
	s := newStack(t, stackConfig{gen: 2, opts: []version.Option{
		version.WithPendingLimit(2),
		version.WithPendingTTL(time.Minute),
		version.WithClock(clk.Now),
	}})
	notify(t, s.n, "stale", "old")
	clk.Advance(30 * time.Second)
	notify(t, s.n, "stale", "newer")
	clk.Advance(45 * time.Second) // "old" expired, "newer" has not
	for _, v := range []string{"1", "2", "3"} {
		notify(t, s.n, "bounded", v)
	}

	bounded := s.open(t, "bounded")
	if diff := cmp.Diff([]string{data(t, "2"), data(t, "3")}, nextData(t, bounded, 2)); diff != "" {
		t.Errorf("bounded (-want +got):\n%s", diff)
	}
	stale := s.open(t, "stale")
	if diff := cmp.Diff([]string{data(t, "newer")}, nextData(t, stale, 1)); diff != "" {
		t.Errorf("stale (-want +got):\n%s", diff)
	}

	notify(t, s.n, "expired", "x")
	clk.Advance(2 * time.Minute)
	expired := s.open(t, "expired")
	if diff := cmp.Diff([]string{data(t, "cur")}, nextData(t, expired, 1)); diff != "" {
		t.Errorf("expired (-want +got):\n%s", diff)
	}
	if got := s.n.PendingRequests(); got != 0 {
		t.Errorf("PendingRequests = %d, want 0", got)
	}
}

func TestE2ENotifyRacingConnect(t *testing.T) {
	// A producer notifies while the browser connects: every event arrives,
	// in order, whether it was flushed on connect or sent live. (An event
	// whose send raced the connect may arrive twice in a row.)
	s := newStack(t, stackConfig{gen: 2, opts: []version.Option{version.WithPendingLimit(1000)}})
	const total = 60
	produced := make(chan struct{})
	half := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range total {
			if i == total/2 {
				close(half)
			}
			if _, err := s.n.Notify(context.Background(), "r1", version.Info{Version: fmt.Sprintf("v%03d", i)}); err != nil {
				t.Error(err)
			}
		}
	}()
	<-half
	st := s.open(t, "r1")
	<-produced

	var got []string
	last := ""
	for last != data(t, fmt.Sprintf("v%03d", total-1)) {
		d := nextData(t, st, 1)[0]
		if d == last {
			continue
		}
		if d < last {
			t.Fatalf("%s after %s", d, last)
		}
		got = append(got, d)
		last = d
	}
	var want []string
	for i := range total {
		want = append(want, data(t, fmt.Sprintf("v%03d", i)))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
