package callback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ssegate/ssegate/callback"
)

// testSecret is the shared secret of the tests' handlers.
const testSecret = "s3cr3t-Shared"

// callbackPath is the callback target with the secret in the query, as the
// gateway's CALLBACK_URL carries it.
const callbackPath = "/api/sse/callback?secret=" + testSecret

// call is what a fake service saw of one callback.
type call struct {
	Action     string
	Token      string
	Reason     string
	URL        string
	Identifier string
	Params     map[string]string
	Header     http.Header
}

// fakeService is a hand-written fake [callback.Service] that records every
// call. The function fields, when set, decide the answers.
type fakeService struct {
	connect    func(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error)
	disconnect func(ctx context.Context, req *callback.Request) error

	mu    sync.Mutex // guards calls
	calls []call
}

func (s *fakeService) record(req *callback.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{
		Action:     req.Action,
		Token:      req.Token,
		Reason:     req.Reason,
		URL:        req.URL.String(),
		Identifier: req.Identifier,
		Params:     req.Params,
		Header:     req.Header,
	})
}

func (s *fakeService) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	s.record(req)
	if s.connect != nil {
		return s.connect(ctx, req)
	}
	return nil, nil
}

func (s *fakeService) Disconnect(ctx context.Context, req *callback.Request) error {
	s.record(req)
	if s.disconnect != nil {
		return s.disconnect(ctx, req)
	}
	return nil
}

// Calls returns a copy of the recorded calls.
func (s *fakeService) Calls() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// newHandler returns a handler or fails the test.
func newHandler(t testing.TB, opts ...callback.Option) *callback.Handler {
	t.Helper()
	h, err := callback.NewHandler(opts...)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

// response is a recorded answer.
type response struct {
	Status int
	Header http.Header
	Body   string
}

// serve posts body to h at target with the given headers and returns the
// answer.
func serve(t testing.TB, h http.Handler, method, target string, header http.Header, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// post posts body to h with the right secret.
func post(t testing.TB, h http.Handler, body string) response {
	t.Helper()
	return serve(t, h, http.MethodPost, callbackPath, nil, body)
}

// connectBody returns a connect callback for the browser URL u.
func connectBody(t testing.TB, token, u string, headers map[string]any) string {
	t.Helper()
	return callbackBody(t, map[string]any{"action": "connect", "token": token,
		"request": map[string]any{"url": u, "headers": headers}})
}

// disconnectBody returns a disconnect callback for the browser URL u.
func disconnectBody(t testing.TB, token, reason, u string) string {
	t.Helper()
	return callbackBody(t, map[string]any{"action": "disconnect", "token": token, "reason": reason,
		"request": map[string]any{"url": u, "headers": map[string]any{"accept": "text/event-stream"}}})
}

func callbackBody(t testing.TB, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// diffJSON compares two JSON documents by value; it reports (-want +got).
func diffJSON(t testing.TB, want, got string) string {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v: %s", err, want)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return "got is not JSON: " + got
	}
	return cmp.Diff(w, g)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for capturing
// log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// slogText returns a debug-level text logger writing to w.
func slogText(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
