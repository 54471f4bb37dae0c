package sseconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// backend is a minimal callback endpoint that registers every stream under
// "task:<task_id>" and records disconnect reasons. onConnect, if set, runs
// inside the connect callback after registration.
type backend struct {
	mgr       *sseconn.Manager
	onConnect func(ctx context.Context, identifier string)

	mu      sync.Mutex
	reasons []string
	disc    chan string // receives each disconnect reason
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var cb wire.Callback
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cb); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	i := strings.Index(cb.Request.URL, "task_id=")
	if i < 0 {
		http.Error(w, `{"error":"no route"}`, http.StatusBadRequest)
		return
	}
	id := "task:" + cb.Request.URL[i+len("task_id="):]
	switch cb.Action {
	case wire.ActionConnect:
		if err := b.mgr.Register(r.Context(), id, cb.Token); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if b.onConnect != nil {
			b.onConnect(r.Context(), id)
		}
	case wire.ActionDisconnect:
		b.mgr.Unregister(cb.Token)
		b.mu.Lock()
		b.reasons = append(b.reasons, cb.Reason)
		b.mu.Unlock()
		if b.disc != nil {
			b.disc <- cb.Reason
		}
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{}")
}

type env struct {
	gw  *gatewaytest.Server
	mgr *sseconn.Manager
	be  *backend
}

func newEnv(t *testing.T, gwOpts []gatewaytest.Option, mgrOpts ...sseconn.Option) *env {
	t.Helper()
	be := &backend{disc: make(chan string, 16)}
	cbSrv := httptest.NewServer(be)
	t.Cleanup(cbSrv.Close)
	gw := gatewaytest.NewServer(cbSrv.URL+"/api/sse/callback", gwOpts...)
	t.Cleanup(gw.Close)
	mgr, err := sseconn.New(gw.URL, mgrOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Shutdown(context.Background()) })
	be.mgr = mgr
	return &env{gw: gw, mgr: mgr, be: be}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *env) open(t *testing.T, taskID string) *gatewaytest.Stream {
	t.Helper()
	st, err := e.gw.Connect(ctxT(t), "/api/sse/tasks?task_id="+taskID, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(st.Close)
	if st.StatusCode != http.StatusOK {
		t.Fatalf("stream status = %d, want 200", st.StatusCode)
	}
	return st
}

// next reads the next event, unwrapped from the generation-2 envelope.
func next(t *testing.T, st *gatewaytest.Stream) gatewaytest.Event {
	t.Helper()
	ev, err := st.Next(ctxT(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev.Unwrap()
}

func TestIntegrationSendReachesBrowser(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(map[int]string{1: "generation 1", 2: "generation 2"}[gen], func(t *testing.T) {
			e := newEnv(t, []gatewaytest.Option{gatewaytest.WithGeneration(gen)})
			e.be.onConnect = func(ctx context.Context, id string) {
				// Sent during the connect callback: buffered by the gateway.
				if err := e.mgr.Send(ctx, id, sseconn.Event{Name: "snapshot", Data: `{"n":0}`}); err != nil {
					t.Errorf("Send from the connect handler: %v", err)
				}
			}
			st := e.open(t, "42")
			want := []gatewaytest.Event{{Name: "snapshot", Data: `{"n":0}`}}
			if gen == 2 {
				want = append(want, gatewaytest.Event{Name: "ready"})
			}
			var got []gatewaytest.Event
			for range want {
				got = append(got, next(t, st))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("events up to ready (-want +got):\n%s", diff)
			}
			ctx := ctxT(t)
			if err := e.mgr.Send(ctx, "task:42", sseconn.Event{Name: "progress", Data: `{"n":1}`}); err != nil {
				t.Fatal(err)
			}
			if err := e.mgr.Send(ctx, "task:42", sseconn.Event{Data: "two\nlines"}); err != nil {
				t.Fatal(err)
			}
			if err := e.mgr.SendAndClose(ctx, "task:42", sseconn.Event{Name: "bye", Data: `{}`}); err != nil {
				t.Fatal(err)
			}
			want = []gatewaytest.Event{{Name: "progress", Data: `{"n":1}`}, {Data: "two\nlines"}, {Name: "bye", Data: `{}`}}
			got = nil
			for range want {
				got = append(got, next(t, st))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("live events (-want +got):\n%s", diff)
			}
			if _, err := st.Next(ctxT(t)); !errors.Is(err, io.EOF) {
				t.Errorf("after close: err = %v, want io.EOF", err)
			}
			if reason := <-e.be.disc; reason != wire.ReasonServerClosed {
				t.Errorf("disconnect reason = %q, want server_closed", reason)
			}
			if e.mgr.Len() != 0 {
				t.Errorf("Len = %d after the disconnect callback, want 0", e.mgr.Len())
			}
		})
	}
}

func TestIntegrationReplacement(t *testing.T) {
	e := newEnv(t, nil)
	first := e.open(t, "7")
	if ev := next(t, first); ev.Name != "ready" {
		t.Fatalf("first event = %+v, want ready", ev)
	}
	second := e.open(t, "7")
	// The first stream is closed by the replacement.
	for {
		_, err := first.Next(ctxT(t))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("first stream: %v", err)
		}
	}
	// Its late disconnect callback must not remove the new mapping.
	if reason := <-e.be.disc; reason != wire.ReasonServerClosed {
		t.Errorf("first stream's disconnect reason = %q, want server_closed", reason)
	}
	if tok, _ := e.mgr.Token("task:7"); tok != second.Token() {
		t.Fatalf("mapping holds %q, want the second stream's token %q", tok, second.Token())
	}
	if err := e.mgr.Send(ctxT(t), "task:7", sseconn.Event{Name: "x", Data: "1"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, second); ev.Name != "ready" {
		t.Fatalf("second stream first event = %+v, want ready", ev)
	}
	if diff := cmp.Diff(gatewaytest.Event{Name: "x", Data: "1"}, next(t, second)); diff != "" {
		t.Errorf("second stream (-want +got):\n%s", diff)
	}
}

func TestIntegrationGatewayRestart(t *testing.T) {
	e := newEnv(t, nil)
	for _, id := range []string{"1", "2", "3"} {
		e.open(t, id)
	}
	if e.mgr.Len() != 3 {
		t.Fatalf("Len = %d, want 3", e.mgr.Len())
	}
	e.gw.Restart()
	if err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: "x"}); !errors.Is(err, sseconn.ErrGone) {
		t.Fatalf("Send after restart = %v, want ErrGone", err)
	}
	if e.mgr.Connected("task:1") {
		t.Error("mapping kept after 404")
	}
	removed, err := e.mgr.Sweep(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"task:2", "task:3"}, removed); diff != "" {
		t.Errorf("swept (-want +got):\n%s", diff)
	}
	if e.mgr.Len() != 0 {
		t.Errorf("Len = %d after sweep, want 0", e.mgr.Len())
	}
}

func TestIntegrationLostDisconnectIsSwept(t *testing.T) {
	e := newEnv(t, nil)
	st := e.open(t, "1")
	keep := e.open(t, "2")
	_ = keep
	e.gw.LoseNextDisconnects(1)
	st.Close()
	// Without the disconnect callback the mapping stays until a probe.
	waitGone := func() bool {
		for _, tok := range e.gw.Tokens() {
			if tok == st.Token() {
				return false
			}
		}
		return true
	}
	deadline := time.After(10 * time.Second)
	for !waitGone() {
		select {
		case <-deadline:
			t.Fatal("gateway never dropped the closed stream")
		case <-time.After(time.Millisecond):
		}
	}
	if !e.mgr.Connected("task:1") {
		t.Fatal("mapping dropped without a disconnect callback: the fault was not injected")
	}
	removed, err := e.mgr.Sweep(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"task:1"}, removed); diff != "" {
		t.Errorf("swept (-want +got):\n%s", diff)
	}
	if !e.mgr.Connected("task:2") {
		t.Error("sweep dropped a live stream")
	}
}

func TestIntegrationGatewayDown(t *testing.T) {
	e := newEnv(t, nil, sseconn.WithRetryPolicy(sseconn.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}))
	st := e.open(t, "1")
	next(t, st) // ready
	e.gw.RefuseConnections()
	err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: "x"})
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("Send with the gateway down = %v, want a wrapped dial error", err)
	}
	if !e.mgr.Connected("task:1") {
		t.Error("mapping dropped while the gateway was down")
	}
	e.gw.AcceptConnections()
	if err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: "back"}); err != nil {
		t.Fatalf("Send after the gateway came back: %v", err)
	}
	if diff := cmp.Diff(gatewaytest.Event{Data: "back"}, next(t, st)); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}

func TestIntegrationProxy503IsRetriedOnce(t *testing.T) {
	e := newEnv(t, nil, sseconn.WithRetryPolicy(sseconn.RetryPolicy{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}))
	st := e.open(t, "1")
	next(t, st) // ready
	e.gw.FailNextSends(2, http.StatusServiceUnavailable)
	if err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: "once"}); err != nil {
		t.Fatalf("Send through two 503s: %v", err)
	}
	if err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: "twice"}); err != nil {
		t.Fatal(err)
	}
	// The browser sees each event exactly once.
	want := []gatewaytest.Event{{Data: "once"}, {Data: "twice"}}
	got := []gatewaytest.Event{next(t, st), next(t, st)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	e.gw.FailNextSends(3, http.StatusServiceUnavailable)
	var ge *sseconn.GatewayError
	if err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: "x"}); !errors.As(err, &ge) || ge.StatusCode != 503 {
		t.Errorf("Send through three 503s = %v, want a 503 GatewayError", err)
	}
}

func TestIntegrationWriteFailed(t *testing.T) {
	e := newEnv(t, nil)
	st := e.open(t, "1")
	next(t, st) // ready
	e.gw.DropStream(st.Token())
	err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: "x"})
	var ge *sseconn.GatewayError
	if !errors.As(err, &ge) || ge.StatusCode != 500 || ge.Code != wire.CodeWriteFailed {
		t.Fatalf("Send = %v, want 500 WRITE_FAILED", err)
	}
	if reason := <-e.be.disc; reason != wire.ReasonError {
		t.Errorf("disconnect reason = %q, want error", reason)
	}
	if e.mgr.Connected("task:1") {
		t.Error("mapping kept after the disconnect callback")
	}
	// Exactly one send request reached the gateway: WRITE_FAILED is not retried.
	n := 0
	for _, s := range e.gw.Sends() {
		if s.Event != nil && s.Event.Data == "x" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the failed event reached the gateway %d times, want 1", n)
	}
}

func TestIntegrationTooLargeForTheGateway(t *testing.T) {
	// A manager configured above the gateway's limit gets the gateway's 413.
	e := newEnv(t, nil, sseconn.WithMaxBodyBytes(1<<20))
	st := e.open(t, "1")
	next(t, st)
	err := e.mgr.Send(ctxT(t), "task:1", sseconn.Event{Data: strings.Repeat("x", 200<<10)})
	var ge *sseconn.GatewayError
	if !errors.As(err, &ge) || ge.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("Send = %v, want the gateway's 413", err)
	}
	if !e.mgr.Connected("task:1") {
		t.Error("mapping dropped after 413")
	}
}
