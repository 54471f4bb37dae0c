package frontendtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 10 * time.Second

// backend is a gateway and a bare backend whose one route, the tab stream,
// accepts every connect and hands its token to the test, which sends
// straight to the gateway.
type backend struct {
	gw      *gatewaytest.Server
	tokens  chan string // tokens of accepted connects
	cookies chan string // their Cookie headers
}

// tabs is the backend's callback.Service.
type tabs struct{ tokens, cookies chan string }

func (s tabs) Connect(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	s.tokens <- req.Token
	s.cookies <- req.Header.Get("Cookie")
	return nil, nil
}

func (tabs) Disconnect(context.Context, *callback.Request) error { return nil }

// newBackend starts a gateway of generation gen in front of a backend
// that serves the tab stream (route) or nothing (route false).
func newBackend(t *testing.T, gen int, route bool) *backend {
	t.Helper()
	b := &backend{tokens: make(chan string, 16), cookies: make(chan string, 16)}
	opts := []callback.Option{callback.WithSecret("s3cr3t")}
	if route {
		opts = append(opts, callback.WithRoute(callback.Query("tab", DefaultStreamPath, "request_id"), tabs{b.tokens, b.cookies}))
	}
	h, err := callback.NewHandler(opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.gw = gatewaytest.NewServer(srv.URL+"?secret=s3cr3t", gatewaytest.WithGeneration(gen))
	t.Cleanup(func() {
		b.gw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := h.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		srv.Close()
	})
	return b
}

// token waits for the next accepted connect.
func (b *backend) token(t *testing.T) string {
	t.Helper()
	select {
	case tok := <-b.tokens:
		return tok
	case <-time.After(testTimeout):
		t.Fatal("no connect")
		return ""
	}
}

// send sends one event to token through the gateway's send endpoint.
func (b *backend) send(t *testing.T, token, name, data string) {
	t.Helper()
	body, err := json.Marshal(wire.SendRequest{Token: token, Event: &wire.Event{Name: name, Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(b.gw.URL+"/internal/send", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send %s %s: status %d", name, data, resp.StatusCode)
	}
}
