package gatewaytest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TestRefuseConnections checks TCP-level refusal and recovery on the same
// port, with an open stream surviving both.
func TestRefuseConnections(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	url := gw.URL
	addr := strings.TrimPrefix(url, "http://")
	st := openStream(t, gw, 2, "/x")

	// A keep-alive connection that is idle when the gateway stops.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(idle), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	gw.RefuseConnections()
	gw.RefuseConnections() // idempotent

	if _, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial while refusing: %v, want ECONNREFUSED", err)
	}
	if runtime.GOOS == "linux" {
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			t.Errorf("another listener got port %s while the gateway refused connections", addr)
		}
	}
	if _, err := tryPost(testCtx(t), url+"/internal/send", "application/json", "{}"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("send while refusing: %v, want ECONNREFUSED", err)
	}
	if _, err := gw.Connect(testCtx(t), "/y", nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Connect while refusing: %v, want ECONNREFUSED", err)
	}
	_ = idle.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle keep-alive connection: read %d, %v; want it closed (EOF)", n, err)
	}

	gw.AcceptConnections()
	gw.AcceptConnections() // idempotent
	if gw.URL != url {
		t.Errorf("URL changed from %s to %s", url, gw.URL)
	}
	sendOK(t, gw, st.Token(), &wire.Event{Data: "still here"}, false)
	if diff := cmp.Diff(gatewaytest.Event{Data: "still here"}, nextEvent(t, st)); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	openStream(t, gw, 2, "/z")
}

// TestDelaySends checks that sends are held, and handled even when the
// client gave up.
func TestDelaySends(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	const delay = 200 * time.Millisecond
	gw.DelaySends(delay)

	start := time.Now()
	sendOK(t, gw, st.Token(), &wire.Event{Data: "slow"}, false)
	if d := time.Since(start); d < delay {
		t.Errorf("send answered after %v, want at least %v", d, delay)
	}
	nextEvent(t, st)

	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Millisecond)
	defer cancel()
	if _, err := trySend(ctx, gw, wire.SendRequest{Token: st.Token(), Event: &wire.Event{Data: "given up"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send with a short deadline: %v, want DeadlineExceeded", err)
	}
	if diff := cmp.Diff(gatewaytest.Event{Data: "given up"}, nextEvent(t, st)); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}

	gw.DelaySends(0)
	sendOK(t, gw, st.Token(), &wire.Event{Data: "fast"}, false)
	nextEvent(t, st)
}

// TestFailNextSends checks proxy-style failures that the gateway never
// sees.
func TestFailNextSends(t *testing.T) {
	for _, status := range []int{502, 503} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			b := newBackend(t, nil)
			gw := newGateway(t, b.callbackURL())
			st := openStream(t, gw, 2, "/x")
			gw.FailNextSends(2, status)
			for i := range 2 {
				got := send(t, gw, sendBody(t, st.Token(), &wire.Event{Data: "failed"}, false))
				if got.Status != status || json.Valid([]byte(got.Body)) || !strings.HasPrefix(got.ContentType, "text/html") {
					t.Errorf("send %d: %d %q %q, want %d with a non-JSON body", i, got.Status, got.ContentType, got.Body, status)
				}
			}
			sendOK(t, gw, st.Token(), &wire.Event{Data: "passed"}, true)
			if diff := cmp.Diff([]gatewaytest.Event{{Data: "passed"}}, readAll(t, st)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			want := []gatewaytest.SendRequest{{Token: st.Token(), Event: &gatewaytest.Event{Data: "passed"}, Close: true}}
			if diff := cmp.Diff(want, gw.Sends()); diff != "" {
				t.Errorf("Sends (-want +got):\n%s", diff)
			}
			if n := gw.SendAttempts(); n != 3 {
				t.Errorf("SendAttempts = %d, want 3", n)
			}
		})
	}
}

// TestFailNextSendsCancel checks that n <= 0 cancels pending failures.
func TestFailNextSendsCancel(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	gw.FailNextSends(5, 503)
	gw.FailNextSends(0, 0)
	sendOK(t, gw, st.Token(), nil, false)
}

// TestLoseNextDisconnects checks that lost disconnect callbacks are not
// sent and that later ones are.
func TestLoseNextDisconnects(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	lost := openStream(t, gw, 2, "/lost")
	kept := openStream(t, gw, 2, "/kept")
	gw.LoseNextDisconnects(1)

	lost.Close()
	if err := gw.WaitGone(testCtx(t), lost.Token()); err != nil {
		t.Fatal(err)
	}
	kept.Close()
	if d := next(t, b.disconnects, "disconnect"); d.cb.Token != kept.Token() {
		t.Errorf("disconnect for %s, want %s", d.cb.Token, kept.Token())
	}
	noDisconnects(t, gw, b)
}

// TestRestart checks that a restart forgets every token, ends streams and
// aborts connects in flight, without disconnect callbacks.
func TestRestart(t *testing.T) {
	hanging := make(chan struct{})
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request, cb wire.Callback) {
		if cb.Request.URL == "/hang" {
			close(hanging)
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "{}")
	})
	gw := newGateway(t, b.callbackURL())
	done := doneHook(gw)
	open := openStream(t, gw, 2, "/open")
	errc := make(chan error, 1)
	ctx := testCtx(t)
	go func() {
		st, err := gw.Connect(ctx, "/hang", nil)
		if err == nil {
			st.Close()
		}
		errc <- err
	}()
	<-hanging
	_ = next(t, b.connects, "connect") // /open's
	connecting := next(t, b.connects, "connect")
	if len(gw.Tokens()) != 2 {
		t.Fatalf("Tokens = %v, want 2", gw.Tokens())
	}

	gw.Restart()

	if diff := cmp.Diff([]string{}, gw.Tokens()); diff != "" {
		t.Errorf("Tokens after Restart (-want +got):\n%s", diff)
	}
	if evs := readAll(t, open); len(evs) != 0 {
		t.Errorf("unexpected events %+v", evs)
	}
	if err := <-errc; err == nil {
		t.Error("Connect in its callback during Restart: no error, want the connection aborted")
	}
	for _, token := range []string{open.Token(), connecting.cb.Token} {
		if got := send(t, gw, sendBody(t, token, nil, false)); got.Status != 404 {
			t.Errorf("send to %s after Restart: status %d, want 404", token, got.Status)
		}
	}
	waitDone(t, done, connecting.cb.Token)

	// The gateway works again, with new tokens.
	st := openStream(t, gw, 2, "/again")
	if slices.Contains([]string{open.Token(), connecting.cb.Token}, st.Token()) {
		t.Errorf("token %s reused after Restart", st.Token())
	}
	sendOK(t, gw, st.Token(), nil, false)
	noDisconnects(t, gw, b)
}

// TestSendsLog checks the Sends log and that it is a copy.
func TestSendsLog(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	sendOK(t, gw, st.Token(), nil, false)
	sendOK(t, gw, st.Token(), &wire.Event{Name: "a", Data: "{}"}, false)
	_ = send(t, gw, `{"token":1}`)
	_ = send(t, gw, sendBody(t, "gone", nil, false))
	sendOK(t, gw, st.Token(), &wire.Event{Data: "b"}, true)
	want := []gatewaytest.SendRequest{
		{Token: st.Token()},
		{Token: st.Token(), Event: &gatewaytest.Event{Name: "a", Data: "{}"}},
		{Token: "gone"},
		{Token: st.Token(), Event: &gatewaytest.Event{Data: "b"}, Close: true},
	}
	got := gw.Sends()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Sends (-want +got):\n%s", diff)
	}
	got[1].Event.Data = "changed"
	if diff := cmp.Diff(want, gw.Sends()); diff != "" {
		t.Errorf("Sends changed through a returned value (-want +got):\n%s", diff)
	}
	if n := gw.SendAttempts(); n != 5 {
		t.Errorf("SendAttempts = %d, want 5", n)
	}
}

// TestTokensAndWaitGone checks Tokens and WaitGone.
func TestTokensAndWaitGone(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	s1 := openStream(t, gw, 2, "/1")
	s2 := openStream(t, gw, 2, "/2")
	want := []string{s1.Token(), s2.Token()}
	slices.Sort(want)
	if diff := cmp.Diff(want, gw.Tokens()); diff != "" {
		t.Errorf("Tokens (-want +got):\n%s", diff)
	}

	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Millisecond)
	defer cancel()
	if err := gw.WaitGone(ctx, s1.Token()); err != context.DeadlineExceeded {
		t.Errorf("WaitGone on a live token = %v, want DeadlineExceeded", err)
	}
	s1.Close()
	if err := gw.WaitGone(testCtx(t), s1.Token()); err != nil {
		t.Errorf("WaitGone = %v", err)
	}
	if diff := cmp.Diff([]string{s2.Token()}, gw.Tokens()); diff != "" {
		t.Errorf("Tokens (-want +got):\n%s", diff)
	}
	if err := gw.WaitGone(testCtx(t), "unknown"); err != nil {
		t.Errorf("WaitGone on an unknown token = %v", err)
	}
}

// TestClose checks that Close ends streams and callbacks in flight, and
// that the gateway is gone afterwards.
func TestClose(t *testing.T) {
	hanging := make(chan struct{})
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request, cb wire.Callback) {
		if cb.Request.URL == "/hang" {
			close(hanging)
			<-r.Context().Done()
			return
		}
		_, _ = io.WriteString(w, "{}")
	})
	gw := gatewaytest.NewServer(b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	sendOK(t, gw, st.Token(), &wire.Event{Data: "queued"}, false)
	errc := make(chan error, 1)
	go func() {
		s, err := gw.Connect(context.Background(), "/hang", nil)
		if err == nil {
			s.Close()
		}
		errc <- err
	}()
	<-hanging

	gw.Close()
	gw.Close() // idempotent

	<-errc // the connect in flight ended, whatever its answer
	if diff := cmp.Diff([]gatewaytest.Event{{Data: "queued"}}, readAll(t, st)); diff != "" {
		t.Errorf("events after Close (-want +got):\n%s", diff)
	}
	if _, err := gw.Connect(testCtx(t), "/y", nil); !errors.Is(err, gatewaytest.ErrClosed) {
		t.Errorf("Connect after Close = %v, want ErrClosed", err)
	}
	select {
	case c := <-b.disconnects:
		t.Errorf("unexpected disconnect callback on Close: %+v", c.cb)
	default:
	}
	// Fault methods on a closed server do nothing.
	gw.RefuseConnections()
	gw.AcceptConnections()
	gw.Restart()
}
