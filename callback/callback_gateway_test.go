package callback_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// gatewayBackend is a backend with the callback handler mounted at
// POST /api/sse/callback, behind a real loopback server, and a gateway
// pointed at it. Every service call is also reported on calls.
type gatewayBackend struct {
	h     *callback.Handler
	gw    *gatewaytest.Server
	svc   *fakeService
	calls chan call
}

func newGatewayBackend(t *testing.T, generation int, secretInURL string) *gatewayBackend {
	t.Helper()
	b := &gatewayBackend{calls: make(chan call, 64)}
	notify := func(req *callback.Request) {
		b.calls <- call{Action: req.Action, Token: req.Token, Reason: req.Reason, Identifier: req.Identifier}
	}
	b.svc = &fakeService{
		connect: func(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
			notify(req)
			if req.Params["task_id"] == "denied" {
				return nil, callback.Reject(http.StatusUnauthorized, "no session")
			}
			return nil, nil
		},
		disconnect: func(_ context.Context, req *callback.Request) error {
			notify(req)
			return nil
		},
	}
	b.h = newHandler(t, callback.WithSecret(testSecret),
		callback.WithRoute(callback.Query("task", "/api/sse/tasks", "task_id"), b.svc))
	mux := http.NewServeMux()
	mux.Handle("POST /api/sse/callback", b.h)
	backend := httptest.NewServer(mux)
	t.Cleanup(backend.Close)
	b.gw = gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret="+secretInURL,
		gatewaytest.WithGeneration(generation), gatewaytest.WithCallbackTimeout(5*time.Second))
	t.Cleanup(b.gw.Close) // runs before backend.Close
	return b
}

// connect opens a browser stream and closes it at cleanup.
func (b *gatewayBackend) connect(t *testing.T, path string) *gatewaytest.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := b.gw.Connect(ctx, path, http.Header{"Cookie": {"session=abc"}})
	if err != nil {
		t.Fatalf("Connect(%q): %v", path, err)
	}
	t.Cleanup(st.Close)
	return st
}

// nextCall waits for the next service call.
func (b *gatewayBackend) nextCall(t *testing.T) call {
	t.Helper()
	return waitFor(t, b.calls, "a service call")
}

// events reads the stream's events until it ends.
func events(t *testing.T, st *gatewaytest.Stream) []gatewaytest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var evs []gatewaytest.Event
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("Next: %v (events so far %v)", err, evs)
		}
		evs = append(evs, ev)
	}
}

func TestGatewayAcceptedConnect(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			b := newGatewayBackend(t, gen, testSecret)
			st := b.connect(t, "/api/sse/tasks?task_id=42")
			if st.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", st.StatusCode, st.Body())
			}
			if ct := st.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q, want text/event-stream", ct)
			}
			tok := st.Token()
			if diff := cmp.Diff(call{Action: "connect", Token: tok, Identifier: "task:42"}, b.nextCall(t)); diff != "" {
				t.Errorf("connect call mismatch (-want +got):\n%s", diff)
			}
			if gen == 2 {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				ev, err := st.Next(ctx)
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if diff := cmp.Diff(gatewaytest.Event{Name: "ready"}, ev); diff != "" {
					t.Errorf("first event mismatch (-want +got):\n%s", diff)
				}
			}
			// The browser goes away: the disconnect callback reaches the
			// same service with the same token.
			st.Close()
			want := call{Action: "disconnect", Token: tok, Reason: "client_closed", Identifier: "task:42"}
			if diff := cmp.Diff(want, b.nextCall(t)); diff != "" {
				t.Errorf("disconnect call mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGatewayRejectedConnect(t *testing.T) {
	tests := []struct {
		name       string
		generation int
		secret     string // in the gateway's CALLBACK_URL
		path       string
		wantStatus int
		wantBody   string // generation 1: the gateway's JSON error body
		wantEvents []gatewaytest.Event
		wantCalls  int // connect calls reaching the service
	}{
		{
			name: "service rejection, generation 1", generation: 1, secret: testSecret, path: "/api/sse/tasks?task_id=denied",
			wantStatus: 401, wantBody: `{"error":{"message":"Backend returned 401","code":"BACKEND_AUTH_FAILED"}}`, wantCalls: 1,
		},
		{
			name: "service rejection, generation 2", generation: 2, secret: testSecret, path: "/api/sse/tasks?task_id=denied",
			wantStatus: 200, wantEvents: []gatewaytest.Event{{Name: "rejected", Data: `{"status":401,"message":"Unauthorized"}`}}, wantCalls: 1,
		},
		{
			name: "wrong secret, generation 1", generation: 1, secret: "wrong", path: "/api/sse/tasks?task_id=42",
			wantStatus: 401, wantBody: `{"error":{"message":"Backend returned 401","code":"BACKEND_AUTH_FAILED"}}`,
		},
		{
			name: "unknown URL, generation 1", generation: 1, secret: testSecret, path: "/api/sse/nope",
			wantStatus: 400, wantBody: `{"error":{"message":"Backend returned 400","code":"BACKEND_ERROR"}}`,
		},
		{
			name: "missing id, generation 2", generation: 2, secret: testSecret, path: "/api/sse/tasks",
			wantStatus: 200, wantEvents: []gatewaytest.Event{{Name: "rejected", Data: `{"status":400,"message":"Bad Request"}`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newGatewayBackend(t, tt.generation, tt.secret)
			// An accepted stream closed by the browser shows that disconnect
			// callbacks do get through in this setup.
			ok := b.connect(t, "/api/sse/tasks?task_id=1")
			if ok.StatusCode != http.StatusOK && tt.secret == testSecret {
				t.Fatalf("accepted stream status = %d", ok.StatusCode)
			}

			st := b.connect(t, tt.path)
			if st.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", st.StatusCode, tt.wantStatus, st.Body())
			}
			if tt.wantBody != "" {
				if diff := diffJSON(t, tt.wantBody, string(st.Body())); diff != "" {
					t.Errorf("body mismatch (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff(tt.wantEvents, events(t, st)); diff != "" {
				t.Errorf("events mismatch (-want +got):\n%s", diff)
			}
			rejected := st.Token()
			if rejected == "" {
				t.Fatal("no token for the rejected stream")
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := b.gw.WaitGone(ctx, rejected); err != nil {
				t.Fatalf("WaitGone: %v", err)
			}
			ok.Close()
			if err := b.gw.WaitGone(ctx, ok.Token()); err != nil {
				t.Fatalf("WaitGone: %v", err)
			}
			// Close waits for every disconnect callback under way.
			b.gw.Close()

			var got []call
			for _, c := range b.svc.Calls() {
				got = append(got, call{Action: c.Action, Token: c.Token, Reason: c.Reason})
			}
			want := []call{}
			if tt.secret == testSecret {
				want = append(want, call{Action: "connect", Token: ok.Token()})
			}
			if tt.wantCalls > 0 {
				want = append(want, call{Action: "connect", Token: rejected})
			}
			if tt.secret == testSecret {
				// The accepted stream's disconnect, and none for the rejected one.
				want = append(want, call{Action: "disconnect", Token: ok.Token(), Reason: "client_closed"})
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("service calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// During Shutdown the handler answers connects 503: the gateway refuses the
// browser, and disconnects still reach the service.
func TestGatewayShutdown(t *testing.T) {
	b := newGatewayBackend(t, 2, testSecret)
	open := b.connect(t, "/api/sse/tasks?task_id=1")
	if open.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", open.StatusCode)
	}
	b.nextCall(t) // its connect
	if err := b.h.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	st := b.connect(t, "/api/sse/tasks?task_id=2")
	if st.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", st.StatusCode)
	}
	if diff := diffJSON(t, `{"error":{"message":"Backend returned 503","code":"BACKEND_ERROR"}}`, string(st.Body())); diff != "" {
		t.Errorf("body mismatch (-want +got):\n%s", diff)
	}
	open.Close()
	want := call{Action: "disconnect", Token: open.Token(), Reason: "client_closed", Identifier: "task:1"}
	if diff := cmp.Diff(want, b.nextCall(t)); diff != "" {
		t.Errorf("disconnect call mismatch (-want +got):\n%s", diff)
	}
}
