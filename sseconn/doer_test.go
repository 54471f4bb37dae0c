package sseconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/internal/wire"
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
		{"502 from a proxy", 502, "text/html", "<html>Bad Gateway</html>", 1},
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

// TestFault6Proxy502NotRetried checks that a proxy's 502, which may come
// after the gateway received the request, is not retried (issue 12,
// fault 6): the gateway writes the event once.
func TestFault6Proxy502NotRetried(t *testing.T) {
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		// A proxy that forwarded the request, then lost the upstream's
		// answer: the gateway has written the event.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>502 Bad Gateway: upstream prematurely closed connection</html>"))
	}))
	defer srv.Close()
	m := newTestManager(t, srv.URL, WithRetryPolicy(fastRetry))
	mustRegister(t, m, "task:1", "tok")
	err := m.Send(context.Background(), "task:1", Event{Data: "x"})
	var ge *GatewayError
	if !errors.As(err, &ge) || ge.StatusCode != http.StatusBadGateway {
		t.Errorf("err = %v, want a 502 GatewayError", err)
	}
	if got := attempts.Load(); got != 1 {
		t.Errorf("attempts = %d, want 1 (a 502 may have reached the gateway)", got)
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
	m := newTestManager(t, srv.URL, WithRetryPolicy(fastRetry), WithSendTimeout(100*time.Millisecond))
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

// TestIdleKeepAliveRace is fault 5 of issue 12: the gateway's Node.js server
// closes a keep-alive connection after 5 s of idleness, and a send written
// onto it at that moment fails with EOF or ECONNRESET, delivered or not.
// The proxy keeps the server's close from reaching the client, so that a
// doer which reuses a connection after the server's idle timeout fails every
// time instead of once in a while. The default doer closes idle connections
// first (DefaultIdleTimeout), so its send after a 5 s pause goes out on a new
// connection.
func TestIdleKeepAliveRace(t *testing.T) {
	t.Parallel()
	const gatewayIdle = 5 * time.Second // Node's keepAliveTimeout
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	srv.Config.IdleTimeout = gatewayIdle
	srv.Start()
	t.Cleanup(srv.Close)
	px := realgw.NewProxy(t, srv.Listener.Addr().String())
	m, err := New(px.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	ctx := context.Background()
	if err := m.Register(ctx, "task:idle", "token-idle"); err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, "task:idle", Event{Data: "first"}); err != nil {
		t.Fatal(err)
	}
	idle := time.After(gatewayIdle + 250*time.Millisecond)
	wctx, cancel := context.WithTimeout(ctx, 2*gatewayIdle)
	defer cancel()
	if err := px.WaitEnded(wctx, 1); err != nil {
		t.Fatalf("the first connection never ended: %v", err)
	}
	<-idle // the pause itself is the scenario: longer than the server's idle timeout
	if err := m.Send(ctx, "task:idle", Event{Data: "after a pause"}); err != nil {
		t.Fatalf("send after %v idle: %v (requests written onto a closed connection: %d)", gatewayIdle, err, px.Lost())
	}
	if got := px.Opened(); got != 2 {
		t.Errorf("%d connections opened, want 2 (the idle one must not be reused)", got)
	}
}

// TestDefaultIdleTimeout checks that the default doer's transport closes
// idle connections before the gateway's 5 s keep-alive timeout.
func TestDefaultIdleTimeout(t *testing.T) {
	rc := newRetryClient(DefaultRetryPolicy, nil, nil)
	tr := rc.HTTPClient.Transport.(*http.Transport)
	if tr.IdleConnTimeout <= 0 || tr.IdleConnTimeout >= 5*time.Second {
		t.Fatalf("IdleConnTimeout = %v, want in (0, 5s)", tr.IdleConnTimeout)
	}
	d, err := NewDoer(DefaultRetryPolicy, nil)
	if err != nil {
		t.Fatal(err)
	}
	inner := d.Transport.(*retryTransport).pool.Transport.(*http.Transport)
	if inner.IdleConnTimeout != DefaultIdleTimeout {
		t.Fatalf("NewDoer's IdleConnTimeout = %v, want %v", inner.IdleConnTimeout, DefaultIdleTimeout)
	}
}

// NewDoer's client closes its pooled connections when asked, like any
// *http.Client over an *http.Transport.
func TestNewDoerClosesIdleConnections(t *testing.T) {
	g := newFakeGateway(t, nil)
	ignore := goleak.IgnoreCurrent()
	c, err := NewDoer(RetryPolicy{MaxAttempts: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
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
	if elapsed >= DefaultSendTimeout {
		t.Errorf("the send took %v, want less than the %v timeout", elapsed, DefaultSendTimeout)
	}
	if !m.Connected("task:1") {
		t.Error("mapping dropped while the gateway was down")
	}
}

// TestRetrySendsTheWholeBodyAgain checks that every attempt of a retried
// send carries the same complete body: the default doer rewinds the body
// (through GetBody) for each retry, small bodies and pooled large ones
// alike, and a pooled buffer is not reused while an attempt could read it.
func TestRetrySendsTheWholeBodyAgain(t *testing.T) {
	for _, size := range []int{10, pooledBodyMin, 64 << 10} {
		t.Run(fmt.Sprintf("%d bytes of data", size), func(t *testing.T) {
			var bodies [][]byte
			var mu sync.Mutex
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("read body: %v", err)
				}
				mu.Lock()
				bodies = append(bodies, b)
				n := len(bodies)
				mu.Unlock()
				if n < 3 {
					w.Header().Set("Content-Type", "text/plain")
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, "no healthy upstream")
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"status":"ok"}`)
			}))
			defer srv.Close()
			m := newTestManager(t, srv.URL, WithRetryPolicy(fastRetry))
			mustRegister(t, m, "task:1", "tok")
			ev := Event{Name: "n", Data: `"` + strings.Repeat("d", size) + `"`}
			if err := m.Send(context.Background(), "task:1", ev); err != nil {
				t.Fatalf("Send through two proxy 503s: %v", err)
			}
			want := string(encodeSend(tokenRef{s: "tok"}, &ev, false))
			mu.Lock()
			defer mu.Unlock()
			if len(bodies) != 3 {
				t.Fatalf("%d attempts, want 3", len(bodies))
			}
			for i, b := range bodies {
				if string(b) != want {
					t.Errorf("attempt %d: body of %d bytes differs from the %d-byte send body", i+1, len(b), len(want))
				}
			}
		})
	}
}
