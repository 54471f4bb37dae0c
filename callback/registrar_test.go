package callback_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// fakeRegistry records what a Registrar asks of it.
type fakeRegistry struct {
	err error // returned by Register

	mu    sync.Mutex // guards calls
	calls []string
}

func (r *fakeRegistry) Register(_ context.Context, identifier, token string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "register "+identifier+" "+token)
	return r.err
}

func (r *fakeRegistry) Unregister(token string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "unregister "+token)
	return true
}

func TestRegistrarCallbacks(t *testing.T) {
	errFull := errors.New("registry full")
	tests := []struct {
		name       string
		reg        *fakeRegistry
		nilReg     bool
		bodies     []string
		wantStatus []int
		wantCalls  []string
	}{
		{
			name: "connect registers, disconnect unregisters",
			reg:  &fakeRegistry{},
			bodies: []string{
				connectBody(t, "tok-1", "/api/sse/users/42", nil),
				disconnectBody(t, "tok-1", "client_closed", "/api/sse/users/42"),
			},
			wantStatus: []int{200, 200},
			wantCalls:  []string{"register user:42 tok-1", "unregister tok-1"},
		},
		{
			name:       "a registration error answers 500",
			reg:        &fakeRegistry{err: errFull},
			bodies:     []string{connectBody(t, "tok-1", "/api/sse/users/42", nil)},
			wantStatus: []int{500},
			wantCalls:  []string{"register user:42 tok-1"},
		},
		{
			name:   "without a registry, connects fail and disconnects succeed",
			nilReg: true,
			bodies: []string{
				connectBody(t, "tok-1", "/api/sse/users/42", nil),
				disconnectBody(t, "tok-1", "client_closed", "/api/sse/users/42"),
			},
			wantStatus: []int{500, 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *callback.Registrar
			if tt.nilReg {
				r = callback.NewRegistrar(nil)
			} else {
				r = callback.NewRegistrar(tt.reg)
			}
			h := newHandler(t, callback.WithSecret(testSecret),
				callback.WithRoute(callback.Path("user", "/api/sse/users/{id}"), r))
			var status []int
			for _, body := range tt.bodies {
				status = append(status, post(t, h, body).Status)
			}
			if diff := cmp.Diff(tt.wantStatus, status); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			var calls []string
			if tt.reg != nil {
				calls = tt.reg.calls
			}
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("registry calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegistrarConnectError(t *testing.T) {
	errFull := errors.New("registry full")
	r := callback.NewRegistrar(&fakeRegistry{err: errFull})
	_, err := r.Connect(t.Context(), &callback.Request{Action: "connect", Token: "t", Identifier: "user:1"})
	if !errors.Is(err, errFull) {
		t.Fatalf("Connect = %v, want an error wrapping %v", err, errFull)
	}
	if got, want := err.Error(), "callback: register stream: registry full"; got != want {
		t.Errorf("Connect error = %q, want %q", got, want)
	}
}

// TestRegistrarWithGateway runs the basic integration end to end: a
// browser opens a stream through the gateway, the Registrar registers it in
// a real sseconn.Manager, the application sends by identifier, the browser
// receives it; the browser leaves and the mapping goes away.
func TestRegistrarWithGateway(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprint("generation ", gen), func(t *testing.T) {
			mux := http.NewServeMux()
			backend := httptest.NewServer(mux)
			t.Cleanup(backend.Close)
			gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret="+testSecret, gatewaytest.WithGeneration(gen))
			t.Cleanup(gw.Close) // before backend.Close
			conns, err := sseconn.New(gw.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conns.Shutdown(context.Background()) })
			h := newHandler(t, callback.WithSecret(testSecret),
				callback.WithRoute(callback.Path("user", "/api/sse/users/{id}"), callback.NewRegistrar(conns)))
			mux.Handle("POST /api/sse/callback", h)

			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			st, err := gw.Connect(ctx, "/api/sse/users/42", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			if tok, ok := conns.Token("user:42"); !ok || tok != st.Token() {
				t.Fatalf("Token(user:42) = %q, %v; want the stream's token %q", tok, ok, st.Token())
			}

			if err := conns.Send(ctx, "user:42", sseconn.Event{Name: "notice", Data: `{"text":"hello"}`}); err != nil {
				t.Fatal(err)
			}
			var got []gatewaytest.Event
			for len(got) == 0 {
				ev, err := st.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ev = ev.Unwrap(); ev.Name != "ready" {
					got = append(got, ev)
				}
			}
			want := []gatewaytest.Event{{Name: "notice", Data: `{"text":"hello"}`}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("browser received (-want +got):\n%s", diff)
			}

			// The browser leaves: the gateway's disconnect callback
			// unregisters the token.
			st.Close()
			if err := gw.WaitGone(ctx, st.Token()); err != nil {
				t.Fatal(err)
			}
			gw.Close() // waits for the disconnect callback's delivery
			if conns.Connected("user:42") {
				t.Error("user:42 is still connected after its browser left")
			}
			if _, err := st.Next(ctx); !errors.Is(err, io.EOF) {
				t.Errorf("Next after Close = %v, want io.EOF", err)
			}
		})
	}
}
