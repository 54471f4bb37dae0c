package sseconn

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/ssegate/ssegate/internal/wire"
	"go.uber.org/goleak"
)

var fastRetry = RetryPolicy{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}

// TestRetryPolicy checks which answers the default doer retries, by
// counting the attempts that reach a loopback server.
func TestRetryPolicy(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		contentType  string
		body         string
		wantAttempts int32
	}{
		{"200 ok", 200, "application/json", `{"status":"ok"}`, 1},
		{"400 gateway JSON", 400, "application/json", `{"error":{"message":"m","code":"INVALID_TOKEN_MISSING"}}`, 1},
		{"400 HTML", 400, "text/html", "<html>SyntaxError</html>", 1},
		{"404 TOKEN_NOT_FOUND", 404, "application/json", `{"error":{"message":"m","code":"TOKEN_NOT_FOUND"}}`, 1},
		{"413 HTML", 413, "text/html", "<html>too large</html>", 1},
		{"500 WRITE_FAILED", 500, "application/json", `{"error":{"message":"m","code":"WRITE_FAILED"}}`, 1},
		{"500 plain", 500, "text/plain", "oops", 1},
		{"502 from a proxy", 502, "text/html", "<html>Bad Gateway</html>", 3},
		{"503 from a proxy", 503, "text/plain", "no healthy upstream", 3},
		{"503 from a proxy with JSON of its own", 503, "application/json", `{"message":"unavailable"}`, 3},
		{"503 gateway JSON", 503, "application/json", `{"error":{"message":"m","code":"BACKEND_UNAVAILABLE"}}`, 1},
		{"502 gateway JSON", 502, "application/json; charset=utf-8", `{"error":{"message":"m","code":"BACKEND_ERROR"}}`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var attempts atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			m := newTestManager(t, srv.URL, WithRetryPolicy(fastRetry))
			mustRegister(t, m, "task:1", "tok")
			err := m.Send(context.Background(), "task:1", Event{Data: "x"})
			if got := attempts.Load(); got != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", got, tt.wantAttempts)
			}
			if tt.status >= 500 {
				var ge *GatewayError
				if !errors.As(err, &ge) || ge.StatusCode != tt.status {
					t.Errorf("err = %v, want a %d GatewayError", err, tt.status)
				}
			}
		})
	}
}

// A timed-out request may have reached the gateway: it is not retried.
func TestRetryPolicyNeverRetriesATimeout(t *testing.T) {
	var attempts atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	m := newTestManager(t, srv.URL, WithRetryPolicy(fastRetry), WithTimeout(100*time.Millisecond))
	mustRegister(t, m, "task:1", "tok")
	if err := m.Send(context.Background(), "task:1", Event{Data: "x"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if got := attempts.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
}

// A connection the server drops after reading the request (a response
// never comes) may have delivered the event: it is not retried.
func TestRetryPolicyNeverRetriesAfterTheRequestWasWritten(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer srv.Close()
	m := newTestManager(t, srv.URL, WithRetryPolicy(fastRetry))
	mustRegister(t, m, "task:1", "tok")
	if err := m.Send(context.Background(), "task:1", Event{Data: "x"}); err == nil {
		t.Fatal("Send over a dropped connection succeeded")
	}
	if got := attempts.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
}

// countingDialer fails the first n dials and counts them all.
type countingDialer struct {
	fails int32
	dials atomic.Int32
	d     net.Dialer
}

func (c *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if n := c.dials.Add(1); n <= c.fails {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
	}
	return c.d.DialContext(ctx, network, addr)
}

func TestRetryPolicyRetriesFailedDials(t *testing.T) {
	tests := []struct {
		name       string
		fails      int32
		policy     RetryPolicy
		wantDials  int32
		wantErr    bool
		wantServed int32
	}{
		{"refused once, then up", 1, fastRetry, 2, false, 1},
		{"refused twice, then up", 2, fastRetry, 3, false, 1},
		{"refused every time: bounded", 100, fastRetry, 3, true, 0},
		{"retries disabled", 1, RetryPolicy{MaxAttempts: 1}, 1, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var served atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"status":"ok"}`))
			}))
			defer srv.Close()
			cd := &countingDialer{fails: tt.fails}
			doer := newDoer(tt.policy, nil, cd.DialContext)
			m := newTestManager(t, srv.URL, WithDoer(doer))
			mustRegister(t, m, "task:1", "tok")
			err := m.Send(context.Background(), "task:1", Event{Data: "x"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			got := [2]int32{cd.dials.Load(), served.Load()}
			if diff := cmp.Diff([2]int32{tt.wantDials, tt.wantServed}, got); diff != "" {
				t.Errorf("[dials, served] (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoffIsBounded(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 50 * time.Millisecond}, {1, 100 * time.Millisecond}, {2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond}, {4, 500 * time.Millisecond}, {40, 500 * time.Millisecond},
	}
	retryAfter := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"3600"}}}
	for _, tt := range tests {
		if got := backoff(50*time.Millisecond, 500*time.Millisecond, tt.attempt, retryAfter); got != tt.want {
			t.Errorf("backoff(attempt %d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

// Connections are kept alive: many sequential sends use one connection.
func TestDefaultDoerReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	m := newTestManager(t, srv.URL)
	mustRegister(t, m, "task:1", "tok")
	for range 200 {
		if err := m.Send(context.Background(), "task:1", Event{Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("200 sequential sends opened %d connections, want 1", got)
	}
}

func TestLastAttemptNeverReturnsBoth(t *testing.T) {
	body := &closeRecorder{}
	resp, err := lastAttempt(&http.Response{StatusCode: 503, Body: body}, context.DeadlineExceeded, 2)
	if resp != nil || !errors.Is(err, context.DeadlineExceeded) || !body.closed {
		t.Errorf("with an error: resp = %v, err = %v, body closed = %v; want nil, the error, true", resp, err, body.closed)
	}
	want := &http.Response{StatusCode: 503}
	if resp, err := lastAttempt(want, nil, 3); resp != want || err != nil {
		t.Errorf("without an error: %v, %v; want the response and nil", resp, err)
	}
}

type closeRecorder struct{ closed bool }

func (c *closeRecorder) Read([]byte) (int, error) { return 0, io.EOF }
func (c *closeRecorder) Close() error             { c.closed = true; return nil }

// NewDoer's client closes its pooled connections when asked, like any
// *http.Client over an *http.Transport.
func TestNewDoerClosesIdleConnections(t *testing.T) {
	g := newFakeGateway(t, nil)
	ignore := goleak.IgnoreCurrent()
	c := NewDoer(RetryPolicy{MaxAttempts: 1}, nil)
	resp, err := c.Post(g.URL+wire.SendPath, "application/json", strings.NewReader(`{"token":"t"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // so that the connection is kept alive
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	c.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}

// With the gateway not running and the default retry policy, a send fails
// fast with the wrapped dial error, after the bounded retries and well
// before the send timeout.
func TestGatewayDownFailsFastWithDefaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	m := newTestManager(t, "http://"+addr)
	mustRegister(t, m, "task:1", "tok")
	start := time.Now()
	err = m.Send(context.Background(), "task:1", Event{Data: "x"})
	elapsed := time.Since(start)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("err = %v, want a wrapped dial *net.OpError", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v: the send waited for its timeout", err)
	}
	if elapsed >= DefaultTimeout {
		t.Errorf("the send took %v, want less than the %v timeout", elapsed, DefaultTimeout)
	}
	if !m.Connected("task:1") {
		t.Error("mapping dropped while the gateway was down")
	}
}
