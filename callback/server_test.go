package callback_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ssegate/ssegate/callback"
)

// Bodies as the reference gateway sends them (docs/protocol.md,
// "Callbacks").
const (
	protocolConnect = `{"action": "connect",
 "token": "0b6f…-uuid",
 "request": {"url": "/api/sse/tasks?task_id=42",
             "headers": {"host": "…", "accept": "text/event-stream", "cookie": "…",
                         "last-event-id": "…", "x-many": ["a", "b"]}}}`
	protocolDisconnect = `{"action": "disconnect", "token": "0b6f…", "reason": "client_closed",
 "request": {"url": "/api/sse/tasks?task_id=42", "headers": {}}}`
)

// TestOverLoopback mounts the handler on an http.ServeMux at
// "POST /api/sse/callback" behind a real server and posts the protocol's
// example bodies.
func TestOverLoopback(t *testing.T) {
	tasks := &fakeService{}
	h := newHandler(t, callback.WithSecret(testSecret),
		callback.WithRoute(callback.Query("task", "/api/sse/tasks", "task_id"), tasks))
	mux := http.NewServeMux()
	mux.Handle("POST /api/sse/callback", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string
	}{
		{name: "connect", method: http.MethodPost, path: "/api/sse/callback?secret=" + testSecret, body: protocolConnect, wantStatus: 200, wantBody: `{}`},
		{name: "disconnect", method: http.MethodPost, path: "/api/sse/callback?secret=" + testSecret, body: protocolDisconnect, wantStatus: 200, wantBody: `{}`},
		{name: "wrong secret", method: http.MethodPost, path: "/api/sse/callback?secret=nope", body: protocolConnect, wantStatus: 401, wantBody: `{"error":"unauthorized"}`},
		{name: "GET is refused by the mux", method: http.MethodGet, path: "/api/sse/callback?secret=" + testSecret, wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantBody == "" {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if diff := diffJSON(t, tt.wantBody, string(body)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
	want := []call{
		{Action: "connect", Token: "0b6f…-uuid", URL: "/api/sse/tasks?task_id=42", Identifier: "task:42",
			Params: map[string]string{"task_id": "42"},
			Header: http.Header{"Host": {"…"}, "Accept": {"text/event-stream"}, "Cookie": {"…"}, "Last-Event-Id": {"…"}, "X-Many": {"a", "b"}}},
		{Action: "disconnect", Token: "0b6f…", Reason: "client_closed", URL: "/api/sse/tasks?task_id=42", Identifier: "task:42",
			Params: map[string]string{"task_id": "42"}},
	}
	if diff := cmp.Diff(want, tasks.Calls(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("service calls mismatch (-want +got):\n%s", diff)
	}
}
