package amqp_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

// closedAddr returns a loopback address that refuses connections.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// blackHole returns the address of a server that accepts connections and
// never answers.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestDialErrors(t *testing.T) {
	const password = "s3cr3t-pw"
	refused := closedAddr(t)
	hole := blackHole(t)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name     string
		ctx      context.Context
		url      string
		opts     []amqp.Option
		is       error    // wrapped by the error; nil: any error
		contains []string // in the error message
		within   time.Duration
	}{
		{name: "closed port", url: "amqp://user:" + password + "@" + refused + "/",
			is: syscall.ECONNREFUSED, contains: []string{"amqp: connect to amqp://user:xxxxx@" + refused + "/", "connection refused"},
			within: 5 * time.Second},
		{name: "broker never answers", url: "amqp://user:" + password + "@" + hole + "/",
			opts: []amqp.Option{amqp.WithDialTimeout(200 * time.Millisecond)},
			is:   context.DeadlineExceeded, contains: []string{"user:xxxxx@" + hole}, within: 5 * time.Second},
		{name: "canceled context", ctx: canceled, url: "amqp://user:" + password + "@" + hole + "/",
			is: context.Canceled, within: 5 * time.Second},
		{name: "wrong scheme", url: "http://user:" + password + "@127.0.0.1/",
			contains: []string{"invalid broker URL", "scheme"}, within: time.Second},
		{name: "unescaped reserved character", url: "amqp://user:" + password + "%zz@127.0.0.1/",
			contains: []string{"invalid broker URL", "percent-encoded"}, within: time.Second},
		{name: "whitespace", url: "amqp://user:" + password + "@127.0.0.1/ x",
			contains: []string{"invalid broker URL"}, within: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = testCtx(t)
			}
			start := time.Now()
			p, err := amqp.Dial(ctx, tt.url, tt.opts...)
			if err == nil {
				p.Close()
				t.Fatal("Dial succeeded")
			}
			if elapsed := time.Since(start); elapsed > tt.within {
				t.Errorf("Dial failed after %v, want within %v", elapsed, tt.within)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error = %v, want it to wrap %v", err, tt.is)
			}
			msg := err.Error()
			for _, s := range tt.contains {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not contain %q", msg, s)
				}
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q reveals the password", msg)
			}
		})
	}
}

func TestDialWrongPassword(t *testing.T) {
	u, err := url.Parse(brokerURL(t))
	if err != nil {
		t.Fatal(err)
	}
	const password = "wrong-s3cr3t"
	u.User = url.UserPassword(u.User.Username(), password)
	_, err = amqp.Dial(testCtx(t), u.String())
	if err == nil {
		t.Fatal("Dial with a wrong password succeeded")
	}
	var aerr *amqp091.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp091.AccessRefused {
		t.Errorf("error = %v, want an *amqp091.Error with code %d", err, amqp091.AccessRefused)
	}
	if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), ":xxxxx@") {
		t.Errorf("error %q does not mask the password", err)
	}
}

func TestExchangeNames(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		opts []amqp.Option
		want string
	}{
		{"default", nil, "sse.events"},
		{"empty prefix", []amqp.Option{amqp.WithEnvPrefix("")}, "sse.events"},
		{"prefix", []amqp.Option{amqp.WithEnvPrefix(e.prefix)}, e.prefix + ".sse.events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := amqp.Dial(testCtx(t), e.url, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if got := p.Exchange(); got != tt.want {
				t.Errorf("Exchange() = %q, want %q", got, tt.want)
			}
			// Declared durable topic: a passive declare of exactly that
			// succeeds.
			if err := e.channel().ExchangeDeclarePassive(tt.want, "topic", true, false, false, false, nil); err != nil {
				t.Errorf("exchange %q: %v", tt.want, err)
			}
		})
	}
}

func TestDialExchangeMismatch(t *testing.T) {
	e := newEnv(t)
	// Somebody declared the exchange with another type: Dial fails clearly.
	name := e.id("x") + ".sse.events"
	if err := e.channel().ExchangeDeclare(name, "fanout", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.channel().ExchangeDelete(name, false, false) })
	_, err := amqp.Dial(testCtx(t), e.url, amqp.WithEnvPrefix(e.id("x")))
	var aerr *amqp091.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp091.PreconditionFailed || !strings.Contains(err.Error(), "declare exchange") {
		t.Fatalf("error = %v, want a PRECONDITION_FAILED from declaring the exchange", err)
	}
}

func TestReconnect(t *testing.T) {
	e := newEnv(t)
	px, u := newProxy(t, e.url)
	st := newStates()
	var logs syncBuffer
	p := e.dialURL(u, amqp.WithStateHook(st.hook), amqp.WithBackoff(10*time.Millisecond, 100*time.Millisecond),
		amqp.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	reqID := e.id("tab")
	c := e.consume(e.queue(reqID, nil, amqp.ConnectionKey(reqID)))
	ev := func(data string) sseconn.Event { return sseconn.Event{Name: "n", Data: `"` + data + `"`} }

	if !p.Connected() {
		t.Fatal("Connected() = false after Dial")
	}
	if err := p.PublishToConnection(testCtx(t), reqID, ev("before")); err != nil {
		t.Fatal(err)
	}
	c.next()

	px.Cut()
	st.wait(t, false)
	if p.Connected() {
		t.Error("Connected() = true after the connection was lost")
	}
	for range 3 {
		start := time.Now()
		err := p.PublishToConnection(testCtx(t), reqID, ev("lost"))
		if !errors.Is(err, amqp.ErrNotConnected) {
			t.Fatalf("publish while disconnected: error = %v, want ErrNotConnected", err)
		}
		if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
			t.Errorf("publish while disconnected took %v, want it to fail at once", elapsed)
		}
	}

	px.Restore()
	st.wait(t, true)
	if !p.Connected() {
		t.Error("Connected() = false after reconnecting")
	}
	if err := p.PublishToConnection(testCtx(t), reqID, ev("after")); err != nil {
		t.Fatalf("publish after reconnecting: %v", err)
	}
	if got, want := string(c.next().Body), `{"event":"n","data":"\"after\""}`; got != want {
		t.Fatalf("body = %s, want %s", got, want)
	}

	// Twice more, to see the backoff start over.
	for range 2 {
		px.Cut()
		st.wait(t, false)
		px.Restore()
		st.wait(t, true)
		if err := p.Broadcast(testCtx(t), ev("again")); err != nil {
			t.Fatalf("publish after reconnecting again: %v", err)
		}
	}

	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	out := logs.String()
	for _, want := range []string{"connection lost", "reconnected", "amqp://guest:xxxxx@"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{":guest@", reqID} {
		if strings.Contains(out, secret) {
			t.Errorf("logs reveal %q:\n%s", secret, out)
		}
	}
}

func TestRedeclaresExchangeAfterChannelError(t *testing.T) {
	e := newEnv(t)
	st := newStates()
	p := e.dial(amqp.WithStateHook(st.hook), amqp.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
	reqID := e.id("tab")
	q := e.queue(reqID, nil, amqp.ConnectionKey(reqID))
	c := e.consume(q)

	// Publishing to a deleted exchange is a channel error: the broker
	// closes the channel instead of confirming.
	if err := e.channel().ExchangeDelete(e.exchange, false, false); err != nil {
		t.Fatal(err)
	}
	err := p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "lost"})
	if !errors.Is(err, amqp.ErrUnconfirmed) {
		t.Fatalf("publish to a deleted exchange: error = %v, want ErrUnconfirmed", err)
	}
	st.wait(t, false)
	st.wait(t, true)
	// The publisher declared the exchange again; the gateway would bind
	// its queue again.
	if err := e.channel().QueueBind(q, amqp.ConnectionKey(reqID), e.exchange, false, nil); err != nil {
		t.Fatalf("bind to the redeclared exchange: %v", err)
	}
	if err := p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "after"}); err != nil {
		t.Fatalf("publish after recovery: %v", err)
	}
	if got := string(c.next().Body); got != `{"data":"after"}` {
		t.Fatalf("body = %s", got)
	}
}

func TestClose(t *testing.T) {
	e := newEnv(t)
	p := e.dial()
	for i := range 2 {
		if err := p.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if p.Connected() {
		t.Error("Connected() = true after Close")
	}
	if err := p.Broadcast(testCtx(t), sseconn.Event{Data: "x"}); !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("publish after Close: error = %v, want ErrClosed", err)
	}
	// An invalid event is reported as such even after Close.
	if err := p.Broadcast(testCtx(t), sseconn.Event{Name: "ready"}); !errors.Is(err, sseconn.ErrInvalidEvent) {
		t.Errorf("invalid publish after Close: error = %v, want ErrInvalidEvent", err)
	}
}

func TestCloseWhileReconnecting(t *testing.T) {
	e := newEnv(t)
	px, u := newProxy(t, e.url)
	st := newStates()
	p := e.dialURL(u, amqp.WithStateHook(st.hook), amqp.WithBackoff(time.Millisecond, 5*time.Millisecond))
	px.Cut()
	st.wait(t, false)
	// The supervisor is dialing and backing off in a loop now.
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Close took %v", elapsed)
	}
	if err := p.Broadcast(testCtx(t), sseconn.Event{Data: "x"}); !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("publish after Close: error = %v, want ErrClosed", err)
	}
}

func TestCloseWaitsForInflightPublish(t *testing.T) {
	e := newEnv(t)
	px, u := newProxy(t, e.url)
	p := e.dialURL(u, amqp.WithSendTimeout(waitTimeout))
	reqID := e.id("tab")
	q := e.queue(reqID, nil, amqp.ConnectionKey(reqID))

	px.Pause()
	published := make(chan error, 1)
	go func() { published <- p.PublishToConnection(context.Background(), reqID, sseconn.Event{Data: "x"}) }()
	px.waitHeld(t, reqID) // the message is written, its confirm held back
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	eventually(t, "Close has begun", func() bool { return !p.Connected() })
	px.Resume()

	// Close let the publish get its confirm.
	if err := <-published; err != nil {
		t.Errorf("in-flight publish: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := e.count(q); got != 1 {
		t.Errorf("queue holds %d messages, want 1", got)
	}
}

// eventually waits until cond holds, failing the test after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout.C:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the supervisor's logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
