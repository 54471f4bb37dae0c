package callback_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ssegate/ssegate/callback"
)

// routedHandler returns a handler with three routes and their fakes.
func routedHandler(t testing.TB, opts ...callback.Option) (h *callback.Handler, tasks, versions, docs *fakeService) {
	t.Helper()
	tasks, versions, docs = &fakeService{}, &fakeService{}, &fakeService{}
	h = newHandler(t, append([]callback.Option{
		callback.WithSecret(testSecret),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), tasks),
		callback.WithRoute(callback.Query("version", "/api/sse/utils/version", "request_id"), versions),
		callback.WithRoute(callback.Prefix("doc", "/api/sse/docs/"), docs),
	}, opts...)...)
	return h, tasks, versions, docs
}

func TestServeHTTP(t *testing.T) {
	hdr := map[string]any{"accept": "text/event-stream"}
	tests := []struct {
		name         string
		method       string // default POST
		body         string
		wantStatus   int
		wantBody     string
		wantHeader   http.Header // checked keys only
		wantTasks    []call
		wantVersions []call
		wantDocs     []call
	}{
		{
			name:       "connect by path",
			body:       connectBody(t, "tok-1", "/api/sse/tasks/42", hdr),
			wantStatus: 200,
			wantBody:   `{}`,
			wantHeader: http.Header{"Content-Type": {"application/json"}},
			wantTasks: []call{{Action: "connect", Token: "tok-1", URL: "/api/sse/tasks/42", Identifier: "task:42",
				Params: map[string]string{"id": "42"}, Header: http.Header{"Accept": {"text/event-stream"}}}},
		},
		{
			name:       "connect by query",
			body:       connectBody(t, "tok-2", "/api/sse/utils/version?request_id=r-7&x=1", hdr),
			wantStatus: 200,
			wantBody:   `{}`,
			wantVersions: []call{{Action: "connect", Token: "tok-2", URL: "/api/sse/utils/version?request_id=r-7&x=1",
				Identifier: "version:r-7", Params: map[string]string{"request_id": "r-7"}, Header: http.Header{"Accept": {"text/event-stream"}}}},
		},
		{
			name:       "connect by prefix",
			body:       connectBody(t, "tok-3", "/api/sse/docs/a/b%20c", nil),
			wantStatus: 200,
			wantBody:   `{}`,
			wantDocs: []call{{Action: "connect", Token: "tok-3", URL: "/api/sse/docs/a/b%20c", Identifier: "doc:a/b c",
				Params: map[string]string{"rest": "a/b c"}}},
		},
		{
			name:       "escaped slash stays inside the path segment",
			body:       connectBody(t, "tok-4", "/api/sse/tasks/a%2Fb", nil),
			wantStatus: 200,
			wantBody:   `{}`,
			wantTasks: []call{{Action: "connect", Token: "tok-4", URL: "/api/sse/tasks/a%2Fb", Identifier: "task:a/b",
				Params: map[string]string{"id": "a/b"}}},
		},
		{
			name:       "disconnect by path",
			body:       disconnectBody(t, "tok-5", "client_closed", "/api/sse/tasks/42"),
			wantStatus: 200,
			wantBody:   `{}`,
			wantTasks: []call{{Action: "disconnect", Token: "tok-5", Reason: "client_closed", URL: "/api/sse/tasks/42",
				Identifier: "task:42", Params: map[string]string{"id": "42"}, Header: http.Header{"Accept": {"text/event-stream"}}}},
		},
		{
			name:       "disconnect by query",
			body:       disconnectBody(t, "tok-6", "server_closed", "/api/sse/utils/version?request_id=r-7"),
			wantStatus: 200,
			wantBody:   `{}`,
			wantVersions: []call{{Action: "disconnect", Token: "tok-6", Reason: "server_closed", URL: "/api/sse/utils/version?request_id=r-7",
				Identifier: "version:r-7", Params: map[string]string{"request_id": "r-7"}, Header: http.Header{"Accept": {"text/event-stream"}}}},
		},
		{
			name:       "array-valued headers",
			body:       connectBody(t, "tok-7", "/api/sse/tasks/1", map[string]any{"x-many": []string{"a", "b"}, "cookie": "c=1", "null-header": nil}),
			wantStatus: 200,
			wantBody:   `{}`,
			wantTasks: []call{{Action: "connect", Token: "tok-7", URL: "/api/sse/tasks/1", Identifier: "task:1",
				Params: map[string]string{"id": "1"}, Header: http.Header{"X-Many": {"a", "b"}, "Cookie": {"c=1"}}}},
		},
		{
			name:       "unknown fields ignored",
			body:       `{"action":"connect","token":"tok-8","future":{"x":[1,2]},"request":{"url":"/api/sse/tasks/9","headers":{},"method":"GET"}}`,
			wantStatus: 200,
			wantBody:   `{}`,
			wantTasks: []call{{Action: "connect", Token: "tok-8", URL: "/api/sse/tasks/9", Identifier: "task:9",
				Params: map[string]string{"id": "9"}}},
		},
		{
			name:       "reason ignored on connect",
			body:       `{"action":"connect","token":"tok-9","reason":"x","request":{"url":"/api/sse/tasks/9"}}`,
			wantStatus: 200,
			wantBody:   `{}`,
			wantTasks: []call{{Action: "connect", Token: "tok-9", URL: "/api/sse/tasks/9", Identifier: "task:9",
				Params: map[string]string{"id": "9"}}},
		},
		{
			name:       "unknown URL on connect",
			body:       connectBody(t, "tok", "/api/sse/nope", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"no route matches request.url","details":{"field":"request.url","reason":"matches no route"}}`,
		},
		{
			name:       "unknown URL on disconnect is ignored",
			body:       disconnectBody(t, "tok", "client_closed", "/api/sse/nope"),
			wantStatus: 200,
			wantBody:   `{}`,
		},
		{
			name:       "invalid identifier on disconnect is ignored",
			body:       disconnectBody(t, "tok", "client_closed", "/api/sse/tasks/a:b"),
			wantStatus: 200,
			wantBody:   `{}`,
		},
		{
			name:       "invalid JSON",
			body:       `{"action":"connect",`,
			wantStatus: 400,
			wantBody:   `{"error":"invalid JSON","details":{"reason":"syntax error"}}`,
		},
		{
			name:       "trailing garbage",
			body:       `{"action":"connect","token":"t","request":{"url":"/api/sse/tasks/1"}} x`,
			wantStatus: 400,
			wantBody:   `{"error":"invalid JSON","details":{"reason":"syntax error"}}`,
		},
		{
			name:       "not an object",
			body:       `["connect"]`,
			wantStatus: 400,
			wantBody:   `{"error":"invalid JSON","details":{"reason":"wrong type: array"}}`,
		},
		{
			name:       "wrong field type",
			body:       `{"action":"connect","token":42,"request":{"url":"/api/sse/tasks/1"}}`,
			wantStatus: 400,
			wantBody:   `{"error":"invalid JSON","details":{"field":"token","reason":"wrong type: number"}}`,
		},
		{
			name:       "missing body",
			wantStatus: 400,
			wantBody:   `{"error":"missing request body"}`,
		},
		{
			name:       "blank body",
			body:       " \n",
			wantStatus: 400,
			wantBody:   `{"error":"missing request body"}`,
		},
		{
			name:       "unknown action",
			body:       `{"action":"reconnect","token":"t","request":{"url":"/api/sse/tasks/1"}}`,
			wantStatus: 400,
			wantBody:   `{"error":"unknown action","details":{"field":"action","reason":"must be \"connect\" or \"disconnect\""}}`,
		},
		{
			name:       "missing action",
			body:       `{"token":"t","request":{"url":"/api/sse/tasks/1"}}`,
			wantStatus: 400,
			wantBody:   `{"error":"missing action","details":{"field":"action","reason":"is missing"}}`,
		},
		{
			name:       "empty token",
			body:       `{"action":"connect","token":"","request":{"url":"/api/sse/tasks/1"}}`,
			wantStatus: 400,
			wantBody:   `{"error":"missing token","details":{"field":"token","reason":"is missing or empty"}}`,
		},
		{
			name:       "missing request.url",
			body:       `{"action":"connect","token":"t","request":{"headers":{}}}`,
			wantStatus: 400,
			wantBody:   `{"error":"missing request.url","details":{"field":"request.url","reason":"is missing or empty"}}`,
		},
		{
			name:       "invalid request.url",
			body:       `{"action":"connect","token":"t","request":{"url":"api/sse/tasks/1"}}`,
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"field":"request.url","reason":"is not a valid request URI"}}`,
		},
		{
			name:       "header value neither string nor array",
			body:       `{"action":"connect","token":"t","request":{"url":"/api/sse/tasks/1","headers":{"x":1}}}`,
			wantStatus: 400,
			wantBody:   `{"error":"invalid JSON","details":{"field":"request.headers","reason":"values must be strings or arrays of strings"}}`,
		},
		{
			name:       "missing id in the query",
			body:       connectBody(t, "t", "/api/sse/utils/version?other=1", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"request_id","reason":"is missing"}}`,
		},
		{
			name:       "empty id in the query",
			body:       connectBody(t, "t", "/api/sse/utils/version?request_id=", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"request_id","reason":"is empty"}}`,
		},
		{
			name:       "repeated id in the query",
			body:       connectBody(t, "t", "/api/sse/utils/version?request_id=1&request_id=2", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"request_id","reason":"is given more than once"}}`,
		},
		{
			name:       "empty id in the path",
			body:       connectBody(t, "t", "/api/sse/tasks/", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"id","reason":"is empty"}}`,
		},
		{
			name:       "id containing a colon",
			body:       connectBody(t, "t", "/api/sse/tasks/a:b", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"id","reason":"must not contain ':'"}}`,
		},
		{
			name:       "id containing an escaped colon",
			body:       connectBody(t, "t", "/api/sse/utils/version?request_id=a%3Ab", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"request_id","reason":"must not contain ':'"}}`,
		},
		{
			name:       "id containing a newline",
			body:       connectBody(t, "t", "/api/sse/tasks/a%0Ab", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"id","reason":"must not contain control characters"}}`,
		},
		{
			name:       "empty prefix rest",
			body:       connectBody(t, "t", "/api/sse/docs/", hdr),
			wantStatus: 400,
			wantBody:   `{"error":"invalid request.url","details":{"param":"rest","reason":"is empty"}}`,
		},
		{
			name:       "GET",
			method:     http.MethodGet,
			wantStatus: 405,
			wantBody:   `{"error":"method not allowed"}`,
			wantHeader: http.Header{"Allow": {"POST"}, "Content-Type": {"application/json"}},
		},
		{
			name:       "PUT with a valid body",
			method:     http.MethodPut,
			body:       connectBody(t, "t", "/api/sse/tasks/1", hdr),
			wantStatus: 405,
			wantBody:   `{"error":"method not allowed"}`,
			wantHeader: http.Header{"Allow": {"POST"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, tasks, versions, docs := routedHandler(t)
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			got := serve(t, h, method, callbackPath, nil, tt.body)
			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", got.Status, tt.wantStatus, got.Body)
			}
			if diff := diffJSON(t, tt.wantBody, got.Body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			for k, v := range tt.wantHeader {
				if diff := cmp.Diff(v, got.Header.Values(k)); diff != "" {
					t.Errorf("header %s mismatch (-want +got):\n%s", k, diff)
				}
			}
			for _, s := range []struct {
				name string
				want []call
				svc  *fakeService
			}{{"tasks", tt.wantTasks, tasks}, {"versions", tt.wantVersions, versions}, {"docs", tt.wantDocs, docs}} {
				if diff := cmp.Diff(s.want, s.svc.Calls(), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s calls mismatch (-want +got):\n%s", s.name, diff)
				}
			}
		})
	}
}

func TestServeHTTPBodyLimit(t *testing.T) {
	small := connectBody(t, "t", "/api/sse/tasks/1", map[string]any{"x-pad": strings.Repeat("a", 100)})
	big := connectBody(t, "t", "/api/sse/tasks/1", map[string]any{"x-pad": strings.Repeat("a", 2000)})
	huge := connectBody(t, "t", "/api/sse/tasks/1", map[string]any{"x-pad": strings.Repeat("a", callback.DefaultMaxBodyBytes)})
	tests := []struct {
		name       string
		limit      int // 0 = default
		body       string
		chunked    bool // unknown Content-Length
		wantStatus int
	}{
		{name: "default limit, small", body: small, wantStatus: 200},
		{name: "default limit, over 1 MiB", body: huge, wantStatus: 413},
		{name: "default limit, over 1 MiB, chunked", body: huge, chunked: true, wantStatus: 413},
		{name: "custom limit, fits", limit: 1024, body: small, wantStatus: 200},
		{name: "custom limit, exactly", limit: len(small), body: small, wantStatus: 200},
		{name: "custom limit, one byte over", limit: len(small) - 1, body: small, wantStatus: 413},
		{name: "custom limit, over", limit: 1024, body: big, wantStatus: 413},
		{name: "custom limit, over, chunked", limit: 1024, body: big, chunked: true, wantStatus: 413},
		{name: "zero limit means default", limit: 0, body: big, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			h := newHandler(t, callback.WithSecret(testSecret),
				callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc),
				callback.WithMaxBodyBytes(tt.limit))
			req := httptest.NewRequest(http.MethodPost, callbackPath, strings.NewReader(tt.body))
			if tt.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			wantCalls := 0
			if tt.wantStatus == 200 {
				wantCalls = 1
			} else if diff := diffJSON(t, `{"error":"request body too large"}`, rec.Body.String()); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if got := len(svc.Calls()); got != wantCalls {
				t.Errorf("service calls = %d, want %d", got, wantCalls)
			}
		})
	}
}

func TestServeHTTPServiceAnswers(t *testing.T) {
	tests := []struct {
		name       string
		connect    func(context.Context, *callback.Request) (*callback.ConnectResponse, error)
		wantStatus int
		wantBody   string // compared verbatim
	}{
		{
			name:       "nil response",
			connect:    func(context.Context, *callback.Request) (*callback.ConnectResponse, error) { return nil, nil },
			wantStatus: 200,
			wantBody:   `{}`,
		},
		{
			name: "empty response",
			connect: func(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
				return &callback.ConnectResponse{}, nil
			},
			wantStatus: 200,
			wantBody:   `{}`,
		},
		{
			name: "AMQP response",
			connect: func(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
				return &callback.ConnectResponse{RequestID: "abc", Bindings: []string{"connection.abc", "broadcast"}}, nil
			},
			wantStatus: 200,
			wantBody:   `{"request_id":"abc","bindings":["connection.abc","broadcast"]}`,
		},
		{
			name: "AMQP response with subject and role",
			connect: func(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
				return &callback.ConnectResponse{RequestID: "abc", Bindings: []string{"connection.abc", "subject.u1", "role.admin"}, Subject: "u1", Role: "admin"}, nil
			},
			wantStatus: 200,
			wantBody:   `{"request_id":"abc","bindings":["connection.abc","subject.u1","role.admin"],"subject":"u1","role":"admin"}`,
		},
		{
			name:       "rejection 401",
			connect:    reject(callback.Reject(http.StatusUnauthorized, "no session")),
			wantStatus: 401,
			wantBody:   `{"error":"no session"}`,
		},
		{
			name:       "rejection 403 without message",
			connect:    reject(callback.Reject(http.StatusForbidden, "")),
			wantStatus: 403,
			wantBody:   `{"error":"Forbidden"}`,
		},
		{
			name:       "wrapped rejection 404",
			connect:    reject(fmt.Errorf("loading task: %w", callback.Reject(http.StatusNotFound, "unknown task"))),
			wantStatus: 404,
			wantBody:   `{"error":"unknown task"}`,
		},
		{
			name:       "rejection value",
			connect:    reject(&callback.Rejection{Status: http.StatusTooManyRequests, Message: "slow down"}),
			wantStatus: 429,
			wantBody:   `{"error":"slow down"}`,
		},
		{
			name:       "rejection with a 3xx status is internal",
			connect:    reject(callback.Reject(http.StatusFound, "elsewhere")),
			wantStatus: 500,
			wantBody:   `{"error":"internal error"}`,
		},
		{
			name:       "rejection with a 5xx status is internal",
			connect:    reject(callback.Reject(http.StatusServiceUnavailable, "busy")),
			wantStatus: 500,
			wantBody:   `{"error":"internal error"}`,
		},
		{
			name:       "plain error is generic",
			connect:    reject(errors.New("db: password=hunter2 refused")),
			wantStatus: 500,
			wantBody:   `{"error":"internal error"}`,
		},
		{
			name: "error wins over response",
			connect: func(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
				return &callback.ConnectResponse{RequestID: "abc"}, callback.Reject(http.StatusForbidden, "no")
			},
			wantStatus: 403,
			wantBody:   `{"error":"no"}`,
		},
		{
			name: "panic",
			connect: func(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
				panic("boom password=hunter2")
			},
			wantStatus: 500,
			wantBody:   `{"error":"internal error"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{connect: tt.connect}
			h := newHandler(t, callback.WithSecret(testSecret), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc))
			got := post(t, h, connectBody(t, "tok", "/api/sse/tasks/1", nil))
			want := response{Status: tt.wantStatus, Body: tt.wantBody}
			if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(response{}, "Header")); diff != "" {
				t.Errorf("answer mismatch (-want +got):\n%s", diff)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
}

func reject(err error) func(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
	return func(context.Context, *callback.Request) (*callback.ConnectResponse, error) { return nil, err }
}

func TestServeHTTPDisconnectAnswers(t *testing.T) {
	tests := []struct {
		name       string
		disconnect func(context.Context, *callback.Request) error
		wantStatus int
		wantBody   string
	}{
		{name: "ok", disconnect: func(context.Context, *callback.Request) error { return nil }, wantStatus: 200, wantBody: `{}`},
		{name: "error", disconnect: func(context.Context, *callback.Request) error { return errors.New("x") }, wantStatus: 500, wantBody: `{"error":"internal error"}`},
		{name: "rejection", disconnect: func(context.Context, *callback.Request) error { return callback.Reject(410, "gone") }, wantStatus: 410, wantBody: `{"error":"gone"}`},
		{name: "panic", disconnect: func(context.Context, *callback.Request) error { panic(errors.New("boom")) }, wantStatus: 500, wantBody: `{"error":"internal error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{disconnect: tt.disconnect}
			h := newHandler(t, callback.WithSecret(testSecret), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc))
			got := post(t, h, disconnectBody(t, "tok", "error", "/api/sse/tasks/1"))
			if diff := cmp.Diff(response{Status: tt.wantStatus, Body: tt.wantBody}, got, cmpopts.IgnoreFields(response{}, "Header")); diff != "" {
				t.Errorf("answer mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeHTTPPanicThenNextSucceeds(t *testing.T) {
	var n int
	svc := &fakeService{connect: func(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
		n++ // requests are sequential
		if n == 1 {
			panic("first call panics")
		}
		return nil, nil
	}}
	var logs syncBuffer
	h := newHandler(t, callback.WithSecret(testSecret),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc),
		callback.WithLogger(slogText(&logs)))
	var got []response
	for i := range 2 {
		got = append(got, post(t, h, connectBody(t, fmt.Sprintf("tok-%d", i), "/api/sse/tasks/1", nil)))
	}
	want := []response{{Status: 500, Body: `{"error":"internal error"}`}, {Status: 200, Body: `{}`}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(response{}, "Header")); diff != "" {
		t.Errorf("answers mismatch (-want +got):\n%s", diff)
	}
	for _, s := range []string{"first call panics", "outcome=panic", "goroutine"} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, logs.String())
		}
	}
}

// A panicking matcher or authenticator is answered 500 as well, and the
// handler keeps working.
func TestServeHTTPPanickingUserCode(t *testing.T) {
	panicky := callback.MatcherFunc(func(u *url.URL) (callback.Match, bool, error) {
		if u.Path == "/panic" {
			panic("matcher")
		}
		return callback.Match{}, false, nil
	})
	auth := callback.AuthenticatorFunc(func(r *http.Request) error {
		if r.Header.Get("X-Panic") != "" {
			panic("authenticator")
		}
		return nil
	})
	svc := &fakeService{}
	h := newHandler(t, callback.WithAuthenticator(auth),
		callback.WithRoute(panicky, svc),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc))
	tests := []struct {
		name       string
		header     http.Header
		url        string
		wantStatus int
	}{
		{name: "matcher panics", url: "/panic", wantStatus: 500},
		{name: "authenticator panics", header: http.Header{"X-Panic": {"1"}}, url: "/api/sse/tasks/1", wantStatus: 500},
		{name: "next request", url: "/api/sse/tasks/1", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serve(t, h, http.MethodPost, "/cb", tt.header, connectBody(t, "tok", tt.url, nil))
			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", got.Status, tt.wantStatus, got.Body)
			}
		})
	}
}

func TestServeHTTPMatcherFuncResults(t *testing.T) {
	tests := []struct {
		name       string
		match      callback.Match
		err        error
		wantStatus int
		wantBody   string
	}{
		{name: "valid", match: callback.Match{Identifier: "user:7", Params: map[string]string{"u": "7"}}, wantStatus: 200, wantBody: `{}`},
		{name: "no colon", match: callback.Match{Identifier: "user7"}, wantStatus: 400,
			wantBody: `{"error":"invalid request.url","details":{"param":"identifier","reason":"must be kind:value"}}`},
		{name: "empty kind", match: callback.Match{Identifier: ":7"}, wantStatus: 400,
			wantBody: `{"error":"invalid request.url","details":{"param":"identifier","reason":"has an invalid kind: empty kind"}}`},
		{name: "empty value", match: callback.Match{Identifier: "user:"}, wantStatus: 400,
			wantBody: `{"error":"invalid request.url","details":{"param":"identifier","reason":"is empty"}}`},
		{name: "value with colon", match: callback.Match{Identifier: "user:7:8"}, wantStatus: 400,
			wantBody: `{"error":"invalid request.url","details":{"param":"identifier","reason":"must not contain ':'"}}`},
		{name: "matcher error", err: errors.New("bad user id"), wantStatus: 400,
			wantBody: `{"error":"invalid request.url","details":{"field":"request.url","reason":"bad user id"}}`},
		{name: "matcher rejection", err: callback.Reject(404, "no such user"), wantStatus: 404, wantBody: `{"error":"no such user"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := callback.MatcherFunc(func(*url.URL) (callback.Match, bool, error) { return tt.match, tt.err == nil, tt.err })
			svc := &fakeService{}
			h := newHandler(t, callback.WithInsecureNoAuth(), callback.WithRoute(m, svc))
			got := serve(t, h, http.MethodPost, "/cb", nil, connectBody(t, "tok", "/u", nil))
			if got.Status != tt.wantStatus {
				t.Errorf("status = %d, want %d", got.Status, tt.wantStatus)
			}
			if diff := diffJSON(t, tt.wantBody, got.Body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// Routes are tried in order and the first match wins; a matcher cannot
// change the URL the next matcher and the service see.
func TestServeHTTPRouteOrder(t *testing.T) {
	first, second := &fakeService{}, &fakeService{}
	mutating := callback.MatcherFunc(func(u *url.URL) (callback.Match, bool, error) {
		u.Path = "/changed"
		return callback.Match{}, false, nil
	})
	h := newHandler(t, callback.WithInsecureNoAuth(),
		callback.WithRoute(mutating, first),
		callback.WithRoute(callback.Prefix("any", "/api/"), second),
		callback.WithRoute(callback.Path("task", "/api/tasks/{id}"), first))
	if got := post(t, h, connectBody(t, "tok", "/api/tasks/1", nil)); got.Status != 200 {
		t.Fatalf("status = %d, want 200", got.Status)
	}
	want := []call{{Action: "connect", Token: "tok", URL: "/api/tasks/1", Identifier: "any:tasks/1", Params: map[string]string{"rest": "tasks/1"}}}
	if diff := cmp.Diff(want, second.Calls(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("second route calls mismatch (-want +got):\n%s", diff)
	}
	if got := first.Calls(); len(got) != 0 {
		t.Errorf("first service got %d calls, want 0", len(got))
	}
}

func TestServeHTTPNoRoutes(t *testing.T) {
	h := newHandler(t, callback.WithSecret(testSecret))
	got := []int{
		post(t, h, connectBody(t, "t", "/api/sse/tasks/1", nil)).Status,
		post(t, h, disconnectBody(t, "t", "client_closed", "/api/sse/tasks/1")).Status,
	}
	if diff := cmp.Diff([]int{400, 200}, got); diff != "" {
		t.Errorf("statuses mismatch (-want +got):\n%s", diff)
	}
}

func TestServeHTTPZeroHandler(t *testing.T) {
	var h callback.Handler
	got := post(t, &h, connectBody(t, "t", "/api/sse/tasks/1", nil))
	if got.Status != 500 {
		t.Errorf("status = %d, want 500", got.Status)
	}
}

// The service gets the request's context: it ends when the gateway gives
// up on the callback.
func TestServeHTTPPassesRequestContext(t *testing.T) {
	type key struct{}
	var got any
	svc := &fakeService{connect: func(ctx context.Context, _ *callback.Request) (*callback.ConnectResponse, error) {
		got = ctx.Value(key{})
		if _, ok := ctx.Deadline(); !ok {
			return nil, errors.New("no deadline")
		}
		return nil, nil
	}}
	h := newHandler(t, callback.WithSecret(testSecret), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc))
	ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), key{}, "v"), 5*time.Second)
	t.Cleanup(cancel)
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, callbackPath, strings.NewReader(connectBody(t, "t", "/api/sse/tasks/1", nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status = %d, want 200: %s", rec.Code, rec.Body)
	}
	if got != "v" {
		t.Errorf("service context value = %v, want v", got)
	}
}

func TestShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	slow := &fakeService{connect: func(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
		if req.Token == "slow" {
			close(entered)
			<-release
		}
		return nil, nil
	}}
	h := newHandler(t, callback.WithSecret(testSecret), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), slow))

	inflight := make(chan response, 1)
	go func() { inflight <- post(t, h, connectBody(t, "slow", "/api/sse/tasks/1", nil)) }()
	waitFor(t, entered, "the slow connect to reach the service")

	// A context that is already done: Shutdown returns at once with its error.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.Shutdown(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown(cancelled ctx) = %v, want context.Canceled", err)
	}

	shut := make(chan error, 1)
	go func() { shut <- h.Shutdown(t.Context()) }()

	got := []int{
		post(t, h, connectBody(t, "new", "/api/sse/tasks/2", nil)).Status,
		post(t, h, disconnectBody(t, "old", "client_closed", "/api/sse/tasks/3")).Status,
	}
	if diff := cmp.Diff([]int{503, 200}, got); diff != "" {
		t.Errorf("statuses during Shutdown mismatch (-want +got):\n%s", diff)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a callback is in flight", err)
	default:
	}

	close(release)
	if r := waitFor(t, inflight, "the slow connect to finish"); r.Status != 200 {
		t.Errorf("in-flight connect status = %d, want 200", r.Status)
	}
	if err := waitFor(t, shut, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}

	// After Shutdown: connects 503, disconnects still handled.
	got = []int{
		post(t, h, connectBody(t, "late", "/api/sse/tasks/4", nil)).Status,
		post(t, h, disconnectBody(t, "late", "client_closed", "/api/sse/tasks/4")).Status,
	}
	if diff := cmp.Diff([]int{503, 200}, got); diff != "" {
		t.Errorf("statuses after Shutdown mismatch (-want +got):\n%s", diff)
	}
	var tokens []string
	for _, c := range slow.Calls() {
		tokens = append(tokens, c.Action+" "+c.Token)
	}
	want := []string{"connect slow", "disconnect old", "disconnect late"}
	if diff := cmp.Diff(want, tokens, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("service calls mismatch (-want +got):\n%s", diff)
	}
	if err := h.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown = %v, want nil", err)
	}
}

// waitFor receives from ch or fails the test after a deadline.
func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// FuzzServeHTTP checks that no body makes the handler answer 5xx or panic
// when the services behave.
func FuzzServeHTTP(f *testing.F) {
	for _, s := range []string{
		`{"action":"connect","token":"0b6f-uuid","request":{"url":"/api/sse/tasks?task_id=42","headers":{"host":"x","x-many":["a","b"]}}}`,
		`{"action":"disconnect","token":"0b6f","reason":"client_closed","request":{"url":"/api/sse/tasks/42","headers":{}}}`,
		`{"action":"connect","token":"t","request":{"url":"/api/sse/docs/a%2Fb"}}`,
		`{"action":"connect","token":"t","request":{"url":"//x/api/sse/tasks/1"}}`,
		`{"action":"connect","token":"t","request":{"url":"http://h/api/sse/tasks/%zz"}}`,
		`{"action":"connect","token":"t","request":{"url":"/api/sse/tasks?task_id=%zz&task_id"}}`,
		`null`, `[]`, `{}`, `"x"`, ``, `{"action":"connect","token":"t","request":{"url":"/"},"request":null}`,
	} {
		f.Add([]byte(s))
	}
	svc := &nopService{}
	h, err := callback.NewHandler(callback.WithInsecureNoAuth(), callback.WithMaxBodyBytes(4096),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc),
		callback.WithRoute(callback.Query("task", "/api/sse/tasks", "task_id"), svc),
		callback.WithRoute(callback.Prefix("doc", "/api/sse/docs/"), svc))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/cb", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type = %q", ct)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
	})
}

// nopService accepts everything.
type nopService struct{}

func (nopService) Connect(context.Context, *callback.Request) (*callback.ConnectResponse, error) {
	return nil, nil
}
func (nopService) Disconnect(context.Context, *callback.Request) error { return nil }
