package gatewaytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// status answers a connect with a status and an optional body.
func status(code int, body string) func(http.ResponseWriter, *http.Request, wire.Callback) {
	return func(w http.ResponseWriter, _ *http.Request, _ wire.Callback) {
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

// rawStatusLine answers a connect with a hand-written status line, to carry
// a reason phrase of its own.
func rawStatusLine(line string) func(http.ResponseWriter, *http.Request, wire.Callback) {
	return func(w http.ResponseWriter, _ *http.Request, _ wire.Callback) {
		c, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer c.Close()
		_, _ = bw.WriteString(line + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		_ = bw.Flush()
	}
}

// hang answers a connect only when the gateway gives up on it.
func hang(w http.ResponseWriter, r *http.Request, _ wire.Callback) {
	<-r.Context().Done()
}

// TestConnectAnswers checks each row of PROTOCOL.md section 2's answer
// table, for both generations.
func TestConnectAnswers(t *testing.T) {
	rejected := func(status int, message string) []gatewaytest.Event {
		return []gatewaytest.Event{{Name: "rejected", Data: fmt.Sprintf(`{"status":%d,"message":%q}`, status, message)}}
	}
	type want struct {
		status int
		ctype  string
		body   string
		events []gatewaytest.Event // of a rejection; nil for an open stream
	}
	tests := []struct {
		name    string
		connect func(http.ResponseWriter, *http.Request, wire.Callback)
		noURL   bool          // the callback URL is a closed port
		timeout time.Duration // callback timeout; 0: default
		gen1    want
		gen2    want
	}{
		{
			name:    "200 with {}",
			connect: status(200, "{}"),
			gen1:    want{status: 200, ctype: "text/event-stream"},
			gen2:    want{status: 200, ctype: "text/event-stream"},
		},
		{
			name:    "204 without body",
			connect: status(204, ""),
			gen1:    want{status: 200, ctype: "text/event-stream"},
			gen2:    want{status: 200, ctype: "text/event-stream"},
		},
		{
			name:    "200 with a body that is not JSON",
			connect: status(200, "hello"),
			gen1:    want{status: 200, ctype: "text/event-stream"},
			gen2:    want{status: 200, ctype: "text/event-stream"},
		},
		{
			name:    "400",
			connect: status(400, `{"error":"no"}`),
			gen1:    want{status: 400, ctype: jsonCT, body: errorBody("BACKEND_ERROR", "Backend returned 400")},
			gen2:    want{status: 200, ctype: "text/event-stream", events: rejected(400, "Bad Request")},
		},
		{
			name:    "401",
			connect: status(401, ""),
			gen1:    want{status: 401, ctype: jsonCT, body: errorBody("BACKEND_AUTH_FAILED", "Backend returned 401")},
			gen2:    want{status: 200, ctype: "text/event-stream", events: rejected(401, "Unauthorized")},
		},
		{
			name:    "401 with its own reason phrase",
			connect: rawStatusLine("HTTP/1.1 401 Go Away"),
			gen1:    want{status: 401, ctype: jsonCT, body: errorBody("BACKEND_AUTH_FAILED", "Backend returned 401")},
			gen2:    want{status: 200, ctype: "text/event-stream", events: rejected(401, "Go Away")},
		},
		{
			name:    "403",
			connect: status(403, ""),
			gen1:    want{status: 403, ctype: jsonCT, body: errorBody("BACKEND_FORBIDDEN", "Backend returned 403")},
			gen2:    want{status: 200, ctype: "text/event-stream", events: rejected(403, "Forbidden")},
		},
		{
			name:    "404 is another non-2xx",
			connect: status(404, ""),
			gen1:    want{status: 404, ctype: jsonCT, body: errorBody("BACKEND_ERROR", "Backend returned 404")},
			gen2:    want{status: 404, ctype: jsonCT, body: errorBody("BACKEND_ERROR", "Backend returned 404")},
		},
		{
			name:    "500",
			connect: status(500, "boom"),
			gen1:    want{status: 500, ctype: jsonCT, body: errorBody("BACKEND_ERROR", "Backend returned 500")},
			gen2:    want{status: 500, ctype: jsonCT, body: errorBody("BACKEND_ERROR", "Backend returned 500")},
		},
		{
			name: "redirect is not followed",
			connect: func(w http.ResponseWriter, r *http.Request, _ wire.Callback) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			},
			gen1: want{status: 302, ctype: jsonCT, body: errorBody("BACKEND_ERROR", "Backend returned 302")},
			gen2: want{status: 302, ctype: jsonCT, body: errorBody("BACKEND_ERROR", "Backend returned 302")},
		},
		{
			name:    "no answer within the timeout",
			connect: hang,
			timeout: 300 * time.Millisecond,
			gen1:    want{status: 504, ctype: jsonCT, body: errorBody("GATEWAY_TIMEOUT", "Backend did not respond in time")},
			gen2:    want{status: 504, ctype: jsonCT, body: errorBody("GATEWAY_TIMEOUT", "Backend did not respond in time")},
		},
		{
			name:  "connection refused",
			noURL: true,
			gen1:  want{status: 503, ctype: jsonCT, body: errorBody("BACKEND_UNAVAILABLE", "Backend unavailable")},
			gen2:  want{status: 503, ctype: jsonCT, body: errorBody("BACKEND_UNAVAILABLE", "Backend unavailable")},
		},
	}
	for _, tt := range tests {
		for _, gen := range []int{1, 2} {
			t.Run(fmt.Sprintf("gen%d/%s", gen, tt.name), func(t *testing.T) {
				w := tt.gen1
				if gen == 2 {
					w = tt.gen2
				}
				b := newBackend(t, tt.connect)
				url := b.callbackURL()
				if tt.noURL {
					url = gatewaytest.RefusedURL(t)
				}
				gw := newGateway(t, url, gatewaytest.WithGeneration(gen), gatewaytest.WithCallbackTimeout(tt.timeout))
				st := connect(t, gw, "/api/sse/tasks?task_id=42", nil)

				got := answer{st.StatusCode, st.Header.Get("Content-Type"), string(st.Body())}
				if diff := cmp.Diff(answer{w.status, w.ctype, w.body}, got); diff != "" {
					t.Fatalf("answer (-want +got):\n%s", diff)
				}
				if st.Token() == "" {
					t.Fatal("Token() is empty")
				}
				if !tt.noURL {
					if c := next(t, b.connects, "connect"); c.cb.Token != st.Token() {
						t.Fatalf("connect callback token %q, stream token %q", c.cb.Token, st.Token())
					}
				}

				if w.status != 200 || w.events != nil {
					// Rejected: the rejection is the end of it.
					if diff := cmp.Diff(w.events, readAll(t, st)); diff != "" {
						t.Errorf("events (-want +got):\n%s", diff)
					}
					if got := send(t, gw, sendBody(t, st.Token(), nil, false)); got.Status != 404 {
						t.Errorf("send to a rejected token: status %d, want 404", got.Status)
					}
					noDisconnects(t, gw, b)
					return
				}

				// Accepted: the stream is open and ends with server_closed.
				sendOK(t, gw, st.Token(), &wire.Event{Name: "bye", Data: `{"n":1}`}, true)
				want := []gatewaytest.Event{{Name: "bye", Data: `{"n":1}`}}
				if gen == 2 {
					want = []gatewaytest.Event{{Name: "ready"}, {Data: `{"type":"bye","payload":{"n":1}}`}}
				}
				if diff := cmp.Diff(want, readAll(t, st)); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				d := next(t, b.disconnects, "disconnect")
				if d.cb.Token != st.Token() || d.cb.Reason != wire.ReasonServerClosed {
					t.Errorf("disconnect callback %+v, want token %s reason server_closed", d.cb, st.Token())
				}
			})
		}
	}
}

// TestConnectHeaders checks the stream answer's headers.
func TestConnectHeaders(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	want := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"Connection":        "keep-alive",
		"X-Accel-Buffering": "no",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = st.Header.Get(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}

// TestConnectCallback checks the connect callback request: URL as written,
// body, lower-cased headers given as a string or an array, private header
// removed, secrets not logged.
func TestConnectCallback(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL(), gatewaytest.WithLogger(logger))
	path := "/api/sse/tasks?task_id=42&q=a%20b"
	h := http.Header{}
	h.Add("Cookie", "session=c00kie")
	h.Add("Authorization", "Bearer t0ken")
	h.Add("X-Many", "a")
	h.Add("X-Many", "b")
	h.Add("Last-Event-ID", "7")
	h.Add("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	st := connect(t, gw, path, h)
	c := next(t, b.connects, "connect")

	if got := c.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("callback Content-Type = %q, want application/json", got)
	}
	if c.query != "secret=s3cr3t" {
		t.Errorf("callback query = %q, want the callback URL's query kept as written", c.query)
	}
	var body struct {
		Action  string                     `json:"action"`
		Token   string                     `json:"token"`
		Reason  *string                    `json:"reason"`
		Request map[string]json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(c.raw, &body); err != nil {
		t.Fatal(err)
	}
	if body.Action != "connect" || body.Token != st.Token() || body.Reason != nil {
		t.Errorf("callback = %s; want action connect, token %s, no reason", c.raw, st.Token())
	}
	var url string
	if err := json.Unmarshal(body.Request["url"], &url); err != nil || url != path {
		t.Errorf("request.url = %s, want %q", body.Request["url"], path)
	}
	var headers map[string]json.RawMessage
	if err := json.Unmarshal(body.Request["headers"], &headers); err != nil {
		t.Fatal(err)
	}
	gotHeaders := map[string]string{}
	for _, k := range []string{"cookie", "authorization", "x-many", "last-event-id", "traceparent", "accept", "cache-control", "host", "x-gatewaytest-stream"} {
		gotHeaders[k] = string(headers[k])
	}
	wantHeaders := map[string]string{
		"cookie":               `"session=c00kie"`,
		"authorization":        `"Bearer t0ken"`,
		"x-many":               `["a","b"]`,
		"last-event-id":        `"7"`,
		"traceparent":          `"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"`,
		"accept":               `"text/event-stream"`,
		"cache-control":        `"no-cache"`,
		"host":                 `"` + strings.TrimPrefix(gw.URL, "http://") + `"`,
		"x-gatewaytest-stream": "",
	}
	if diff := cmp.Diff(wantHeaders, gotHeaders); diff != "" {
		t.Errorf("request.headers (-want +got):\n%s", diff)
	}
	for k := range headers {
		if k != strings.ToLower(k) {
			t.Errorf("header name %q is not lower-case", k)
		}
	}

	st.Close()
	d := next(t, b.disconnects, "disconnect")
	if diff := cmp.Diff(c.cb.Request, d.cb.Request); diff != "" {
		t.Errorf("disconnect request differs from connect request (-connect +disconnect):\n%s", diff)
	}
	gw.Close()
	for _, secret := range []string{"c00kie", "t0ken", "s3cr3t"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "gatewaytest: connect") {
		t.Errorf("log has no connect line:\n%s", logs.String())
	}
}

// TestConnectHost checks that a Host header given to Connect is the
// forwarded host.
func TestConnectHost(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	connect(t, gw, "/x", http.Header{"Host": {"app.example.com"}})
	if got := next(t, b.connects, "connect").cb.Request.Headers.Get("host"); got != "app.example.com" {
		t.Errorf("host = %q, want app.example.com", got)
	}
}

// TestBrowserLeavesDuringCallback checks that a browser that goes away
// while the connect callback runs is forgotten without a disconnect
// callback, even though the backend then accepts it.
func TestBrowserLeavesDuringCallback(t *testing.T) {
	release := make(chan struct{})
	b := newBackend(t, func(w http.ResponseWriter, _ *http.Request, _ wire.Callback) {
		<-release
		_, _ = io.WriteString(w, "{}")
	})
	gw := newGateway(t, b.callbackURL())
	done := doneHook(gw)

	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := gw.Connect(ctx, "/x", nil)
		errc <- err
	}()
	token := next(t, b.connects, "connect").cb.Token
	if diff := cmp.Diff([]string{token}, gw.Tokens()); diff != "" {
		t.Fatalf("Tokens during the callback (-want +got):\n%s", diff)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect error = %v, want context.Canceled", err)
	}
	if err := gw.WaitGone(testCtx(t), token); err != nil {
		t.Fatal(err)
	}
	if got := send(t, gw, sendBody(t, token, nil, false)); got.Status != 404 {
		t.Errorf("send after the browser left: status %d, want 404", got.Status)
	}
	close(release) // the backend accepts the connection after all
	waitDone(t, done, token)
	noDisconnects(t, gw, b)
}

// TestNotReady checks a gateway without callback URL.
func TestNotReady(t *testing.T) {
	gw := newGateway(t, "")
	st := connect(t, gw, "/x", nil)
	if st.StatusCode != 503 || st.Token() != "" {
		t.Errorf("Connect: status %d token %q, want 503 and no token", st.StatusCode, st.Token())
	}
	if got := get(t, gw.URL+"/readyz"); got.Status != 503 {
		t.Errorf("/readyz status %d, want 503", got.Status)
	}
}

// TestHealth checks /healthz, /readyz and the routes that are not streams.
func TestHealth(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	tests := []struct {
		name, method, path string
		want               answer
	}{
		{"healthz", http.MethodGet, "/healthz", answer{200, jsonCT, `{"status":"ok"}`}},
		{"readyz", http.MethodGet, "/readyz", answer{200, jsonCT, `{"status":"ready"}`}},
		{"GET /internal/send", http.MethodGet, "/internal/send", answer{404, htmlCT, ""}},
		{"POST elsewhere", http.MethodPost, "/healthz", answer{404, htmlCT, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got answer
			if tt.method == http.MethodGet {
				got = get(t, gw.URL+tt.path)
			} else {
				got = post(t, gw.URL+tt.path, "application/json", "{}")
			}
			if tt.want.Body == "" {
				got.Body = ""
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	select {
	case c := <-b.connects:
		t.Errorf("unexpected connect callback for %s", c.cb.Request.URL)
	default:
	}
}

// TestCORS checks the optional CORS headers and preflight.
func TestCORS(t *testing.T) {
	tests := []struct {
		name   string
		origin string
		want   http.Header // of the stream answer
	}{
		{"specific origin", "http://localhost:5173", http.Header{"Access-Control-Allow-Origin": {"http://localhost:5173"}, "Vary": {"Origin"}}},
		{"any origin", "*", http.Header{"Access-Control-Allow-Origin": {"*"}}},
		{"off", "", http.Header{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, nil)
			gw := newGateway(t, b.callbackURL(), gatewaytest.WithCORS(tt.origin))
			st := openStream(t, gw, 2, "/x")
			got := http.Header{}
			for _, k := range []string{"Access-Control-Allow-Origin", "Vary"} {
				if v := st.Header.Values(k); v != nil {
					got[k] = v
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stream CORS headers (-want +got):\n%s", diff)
			}
			if tt.origin == "" {
				return
			}
			req, err := http.NewRequestWithContext(testCtx(t), http.MethodOptions, gw.URL+"/api/sse/tasks", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", "http://localhost:5173")
			req.Header.Set("Access-Control-Request-Method", "GET")
			req.Header.Set("Access-Control-Request-Headers", "last-event-id")
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			gotPre := map[string]string{"status": fmt.Sprint(resp.StatusCode)}
			for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
				gotPre[k] = resp.Header.Get(k)
			}
			wantPre := map[string]string{
				"status":                       "204",
				"Access-Control-Allow-Origin":  tt.origin,
				"Access-Control-Allow-Methods": "GET,HEAD,PUT,PATCH,POST,DELETE",
				"Access-Control-Allow-Headers": "last-event-id",
			}
			if diff := cmp.Diff(wantPre, gotPre); diff != "" {
				t.Errorf("preflight (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInvalidGeneration checks that NewServer refuses a generation it does
// not know.
func TestInvalidGeneration(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewServer with generation 3 did not panic")
		}
	}()
	gw := gatewaytest.NewServer("http://127.0.0.1:1/", gatewaytest.WithGeneration(3))
	gw.Close()
}

// Without WithCallbackTimeout, a connect callback that never answers is
// given up after the reference gateway's 5 s, and the browser gets 504
// GATEWAY_TIMEOUT. It takes 5 s, so it runs in parallel with the other
// parallel tests.
func TestConnectDefaultCallbackTimeout(t *testing.T) {
	t.Parallel()
	if gatewaytest.DefaultCallbackTimeout != 5*time.Second {
		t.Errorf("DefaultCallbackTimeout = %v, want 5s", gatewaytest.DefaultCallbackTimeout)
	}
	b := newBackend(t, hang)
	gw := newGateway(t, b.callbackURL())
	start := time.Now()
	st := connect(t, gw, "/api/sse/tasks?task_id=42", nil)
	elapsed := time.Since(start)
	got := answer{st.StatusCode, st.Header.Get("Content-Type"), string(st.Body())}
	want := answer{http.StatusGatewayTimeout, jsonCT, errorBody("GATEWAY_TIMEOUT", "Backend did not respond in time")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	// The timer cannot fire early; the upper bound leaves room for a noisy
	// machine but not for a second timeout.
	if elapsed < 5*time.Second || elapsed > 9*time.Second {
		t.Errorf("answered after %v, want 5 s", elapsed)
	}
}
