package sseconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/wire"
)

func TestSendWire(t *testing.T) {
	tests := []struct {
		name string
		call func(m *Manager) error
		want string
	}{
		{
			name: "send",
			call: func(m *Manager) error {
				return m.Send(context.Background(), "task:1", Event{Name: "task_event", Data: `{"progress":0.5}`})
			},
			want: `{"token":"tok","event":{"name":"task_event","data":"{\"progress\":0.5}"}}`,
		},
		{
			name: "unnamed event",
			call: func(m *Manager) error {
				return m.Send(context.Background(), "task:1", Event{Data: "line 1\nline 2"})
			},
			want: `{"token":"tok","event":{"data":"line 1\nline 2"}}`,
		},
		{
			name: "send with close",
			call: func(m *Manager) error {
				return m.SendAndClose(context.Background(), "task:1", Event{Name: "connection_close", Data: `{"reason":"done"}`})
			},
			want: `{"token":"tok","event":{"name":"connection_close","data":"{\"reason\":\"done\"}"},"close":true}`,
		},
		{
			name: "close",
			call: func(m *Manager) error { return m.Close(context.Background(), "task:1") },
			want: `{"token":"tok","close":true}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGateway(t, nil)
			m := newTestManager(t, g.URL)
			mustRegister(t, m, "task:1", "tok")
			if err := tt.call(m); err != nil {
				t.Fatalf("call: %v", err)
			}
			if diff := cmp.Diff([]string{tt.want}, g.bodies()); diff != "" {
				t.Errorf("bodies on the wire (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSendBufferedIsSuccess(t *testing.T) {
	g := newFakeGateway(t, func(wire.SendRequest) answer { return answerBuffered })
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:1", "tok")
	if err := m.Send(context.Background(), "task:1", Event{Data: "x"}); err != nil {
		t.Fatalf("Send answered buffered = %v, want nil", err)
	}
}

func TestSendNotConnectedSendsNothing(t *testing.T) {
	g := newFakeGateway(t, nil)
	m := newTestManager(t, g.URL)
	for name, call := range map[string]func() error{
		"send":      func() error { return m.Send(context.Background(), "task:9", Event{Data: "x"}) },
		"sendclose": func() error { return m.SendAndClose(context.Background(), "task:9", Event{Data: "x"}) },
		"close":     func() error { return m.Close(context.Background(), "task:9") },
	} {
		if err := call(); !errors.Is(err, ErrNotConnected) {
			t.Errorf("%s: err = %v, want ErrNotConnected", name, err)
		}
	}
	if got := g.bodies(); len(got) != 0 {
		t.Errorf("sent %q without a mapping", got)
	}
}

func TestSend404RemovesMapping(t *testing.T) {
	g := newFakeGateway(t, func(wire.SendRequest) answer { return answerGone })
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:1", "tok")
	err := m.Send(context.Background(), "task:1", Event{Data: "x"})
	if !errors.Is(err, ErrGone) {
		t.Fatalf("err = %v, want ErrGone", err)
	}
	if m.Connected("task:1") || m.Len() != 0 {
		t.Error("mapping kept after 404")
	}
	checkMirror(t, m)
}

// A 404 for the old token that arrives after a reconnect registered a new
// token must not delete the new mapping.
func TestSend404AfterReplacementKeepsNewMapping(t *testing.T) {
	inSend := make(chan struct{})
	release := make(chan struct{})
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if r.Token == "old" && r.Event != nil {
			close(inSend)
			<-release
			return answerGone
		}
		return answerGone // the replacement's close of "old" finds it gone too
	})
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:1", "old")
	errc := make(chan error, 1)
	go func() { errc <- m.Send(context.Background(), "task:1", Event{Data: "x"}) }()
	<-inSend
	mustRegister(t, m, "task:1", "new")
	close(release)
	if err := <-errc; !errors.Is(err, ErrGone) {
		t.Fatalf("err = %v, want ErrGone", err)
	}
	if tok, ok := m.Token("task:1"); !ok || tok != "new" {
		t.Errorf("Token = %q, %v; want new, true", tok, ok)
	}
	checkMirror(t, m)
}

func TestSendGatewayErrorsKeepMapping(t *testing.T) {
	tests := []struct {
		name string
		ans  answer
		want *GatewayError
	}{
		{"400 invalid event", answer{400, "application/json", `{"error":{"message":"event.data is required","code":"INVALID_EVENT_DATA_MISSING"}}`},
			&GatewayError{StatusCode: 400, Code: "INVALID_EVENT_DATA_MISSING", Message: "event.data is required"}},
		{"400 HTML (body not JSON)", answer{400, "text/html; charset=utf-8", "<!DOCTYPE html><html><body><pre>SyntaxError</pre></body></html>"},
			&GatewayError{StatusCode: 400, Message: "Bad Request (HTML body)"}},
		{"413 HTML (over the limit)", answer{413, "text/html; charset=utf-8", "<!DOCTYPE html><pre>PayloadTooLargeError</pre>"},
			&GatewayError{StatusCode: 413, Message: "Request Entity Too Large (HTML body)"}},
		{"500 WRITE_FAILED", answer{500, "application/json", `{"error":{"message":"Failed to write","code":"WRITE_FAILED"}}`},
			&GatewayError{StatusCode: 500, Code: "WRITE_FAILED", Message: "Failed to write"}},
		{"404 that is not the gateway's", answer{404, "text/html", "Cannot POST /internal/send"},
			&GatewayError{StatusCode: 404, Message: "Not Found: Cannot POST /internal/send"}},
		{"502 plain text from a proxy", answer{502, "text/plain", "upstream down"},
			&GatewayError{StatusCode: 502, Message: "Bad Gateway: upstream down"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGateway(t, func(wire.SendRequest) answer { return tt.ans })
			m := newTestManager(t, g.URL, WithRetryPolicy(RetryPolicy{MaxAttempts: 1}))
			mustRegister(t, m, "task:1", "tok")
			err := m.Send(context.Background(), "task:1", Event{Data: "x"})
			var ge *GatewayError
			if !errors.As(err, &ge) {
				t.Fatalf("err = %v, want a *GatewayError", err)
			}
			if diff := cmp.Diff(tt.want, ge); diff != "" {
				t.Errorf("GatewayError (-want +got):\n%s", diff)
			}
			if errors.Is(err, ErrGone) || errors.Is(err, ErrNotConnected) {
				t.Errorf("err %v also matches ErrGone or ErrNotConnected", err)
			}
			if !m.Connected("task:1") {
				t.Error("mapping removed after a non-404 answer")
			}
		})
	}
}

func TestSendTransportErrorKeepsMapping(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	m := newTestManager(t, "http://"+addr, WithRetryPolicy(RetryPolicy{MaxAttempts: 2, MinBackoff: time.Millisecond}))
	mustRegister(t, m, "task:1", "tok")
	err = m.Send(context.Background(), "task:1", Event{Data: "x"})
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("err = %v, want a wrapped dial *net.OpError", err)
	}
	var ge *GatewayError
	if errors.As(err, &ge) || errors.Is(err, ErrGone) {
		t.Errorf("transport error %v classified as a gateway answer", err)
	}
	if !m.Connected("task:1") {
		t.Error("mapping removed after a transport error")
	}
}

func TestSendContextErrors(t *testing.T) {
	release := make(chan struct{})
	g := newFakeGateway(t, func(wire.SendRequest) answer { <-release; return answerOK })
	t.Cleanup(func() { close(release) })
	tests := []struct {
		name string
		opts []Option
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"caller deadline", nil, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
		{"send timeout option", []Option{WithSendTimeout(50 * time.Millisecond)}, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestManager(t, g.URL, tt.opts...)
			mustRegister(t, m, "task:1", "tok")
			ctx, cancel := tt.ctx()
			defer cancel()
			err := m.Send(ctx, "task:1", Event{Data: "x"})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !m.Connected("task:1") {
				t.Error("mapping removed after a timeout")
			}
		})
	}
	t.Run("already cancelled", func(t *testing.T) {
		m := newTestManager(t, g.URL)
		mustRegister(t, m, "task:1", "tok")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := m.Send(ctx, "task:1", Event{Data: "x"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestValidationSendsNothing(t *testing.T) {
	big := strings.Repeat("x", DefaultMaxBodyBytes)
	tests := []struct {
		name string
		opts []Option
		call func(m *Manager) error
		want error
	}{
		{"named event with non-JSON data", nil, func(m *Manager) error {
			return m.Send(context.Background(), "task:1", Event{Name: "n", Data: "not json"})
		}, ErrInvalidEvent},
		{"named event with empty data", nil, func(m *Manager) error {
			return m.Send(context.Background(), "task:1", Event{Name: "n", Data: ""})
		}, ErrInvalidEvent},
		{"name with LF", nil, func(m *Manager) error {
			return m.Send(context.Background(), "task:1", Event{Name: "a\nb", Data: "{}"})
		}, ErrInvalidEvent},
		{"name with CR", nil, func(m *Manager) error {
			return m.SendAndClose(context.Background(), "task:1", Event{Name: "a\rb", Data: "{}"})
		}, ErrInvalidEvent},
		{"reserved name ready", nil, func(m *Manager) error {
			return m.Send(context.Background(), "task:1", Event{Name: "ready", Data: "{}"})
		}, ErrInvalidEvent},
		{"body over 100 KiB", nil, func(m *Manager) error {
			return m.Send(context.Background(), "task:1", Event{Data: big})
		}, ErrTooLarge},
		{"body over a configured limit", []Option{WithMaxBodyBytes(64)}, func(m *Manager) error {
			return m.Send(context.Background(), "task:1", Event{Data: strings.Repeat("y", 40)})
		}, ErrTooLarge},
		{"invalid event to an unknown identifier", nil, func(m *Manager) error {
			return m.Send(context.Background(), "task:404", Event{Name: "n", Data: "{"})
		}, ErrInvalidEvent},
		{"broadcast of an invalid event", nil, func(m *Manager) error {
			rs := m.Broadcast(context.Background(), nil, Event{Name: "n", Data: "{"})
			if len(rs) != 1 {
				return fmt.Errorf("%d results, want 1", len(rs))
			}
			return rs[0].Err
		}, ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFakeGateway(t, nil)
			m := newTestManager(t, g.URL, tt.opts...)
			mustRegister(t, m, "task:1", "tok")
			if err := tt.call(m); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := g.bodies(); len(got) != 0 {
				t.Errorf("sent %d requests, want none", len(got))
			}
		})
	}
}

func TestSendAtTheLimitIsAccepted(t *testing.T) {
	g := newFakeGateway(t, nil)
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:1", "tok")
	overhead := len(`{"token":"tok","event":{"data":""}}`)
	data := strings.Repeat("x", DefaultMaxBodyBytes-overhead)
	if err := m.Send(context.Background(), "task:1", Event{Data: data}); err != nil {
		t.Fatalf("Send of exactly %d bytes: %v", DefaultMaxBodyBytes, err)
	}
	if got := len(g.bodies()[0]); got != DefaultMaxBodyBytes {
		t.Errorf("body is %d bytes, want %d", got, DefaultMaxBodyBytes)
	}
	if err := m.Send(context.Background(), "task:1", Event{Data: data + "x"}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over: err = %v, want ErrTooLarge", err)
	}
}

// queued returns the number of sends waiting behind the lane of identifier.
func (m *Manager) queued(identifier string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ln := m.lanes.m[identifier]; ln != nil {
		return len(ln.waiters)
	}
	return 0
}

// startQueued starts calls one at a time from fresh goroutines while the
// first one is held at the gateway, waiting for each to queue up before
// starting the next: the calls are made in a known order and run
// concurrently.
func startQueued(t *testing.T, m *Manager, identifier string, calls []func() error, firstArrived <-chan struct{}) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for j, call := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := call(); err != nil {
				t.Errorf("call %d to %s: %v", j, identifier, err)
			}
		}()
		if j == 0 {
			<-firstArrived
			continue
		}
		waitFor(t, fmt.Sprintf("call %d to queue", j), func() bool { return m.queued(identifier) == j })
	}
	return &wg
}

// holdFirst is a fake-gateway answer function that holds the first request
// of each token until release is closed and records event data per token.
type holdFirst struct {
	mu      sync.Mutex
	got     map[string][]string
	arrived map[string]chan struct{}
	release chan struct{}
}

func newHoldFirst(tokens ...string) *holdFirst {
	h := &holdFirst{got: map[string][]string{}, arrived: map[string]chan struct{}{}, release: make(chan struct{})}
	for _, tok := range tokens {
		h.arrived[tok] = make(chan struct{})
	}
	return h
}

func (h *holdFirst) answer(r wire.SendRequest) answer {
	h.mu.Lock()
	first := len(h.got[r.Token]) == 0
	data := "close"
	if r.Event != nil {
		data = r.Event.Data
	}
	h.got[r.Token] = append(h.got[r.Token], data)
	h.mu.Unlock()
	if first {
		close(h.arrived[r.Token])
		<-h.release
	}
	return answerOK
}

func TestSendOrderPerIdentifier(t *testing.T) {
	const ids, perID = 4, 40
	var tokens []string
	for i := range ids {
		tokens = append(tokens, fmt.Sprintf("tok-%d", i))
	}
	h := newHoldFirst(tokens...)
	g := newFakeGateway(t, h.answer)
	m := newTestManager(t, g.URL, WithSendTimeout(time.Minute))
	var groups []*sync.WaitGroup
	for i := range ids {
		id := fmt.Sprintf("task:%d", i)
		mustRegister(t, m, id, tokens[i])
		var calls []func() error
		for j := range perID {
			calls = append(calls, func() error { return m.Send(context.Background(), id, Event{Data: fmt.Sprint(j)}) })
		}
		groups = append(groups, startQueued(t, m, id, calls, h.arrived[tokens[i]]))
	}
	close(h.release)
	for _, wg := range groups {
		wg.Wait()
	}
	want := make([]string, perID)
	for j := range want {
		want[j] = fmt.Sprint(j)
	}
	for _, tok := range tokens {
		if diff := cmp.Diff(want, h.got[tok]); diff != "" {
			t.Errorf("order at the gateway for %s (-want +got):\n%s", tok, diff)
		}
	}
}

func TestCloseIsOrderedAfterEarlierSends(t *testing.T) {
	h := newHoldFirst("tok")
	g := newFakeGateway(t, h.answer)
	m := newTestManager(t, g.URL, WithSendTimeout(time.Minute))
	mustRegister(t, m, "task:1", "tok")
	var calls []func() error
	for j := range 5 {
		calls = append(calls, func() error { return m.Send(context.Background(), "task:1", Event{Data: fmt.Sprint(j)}) })
	}
	calls = append(calls, func() error { return m.Close(context.Background(), "task:1") })
	wg := startQueued(t, m, "task:1", calls, h.arrived["tok"])
	close(h.release)
	wg.Wait()
	if diff := cmp.Diff([]string{"0", "1", "2", "3", "4", "close"}, h.got["tok"]); diff != "" {
		t.Errorf("order at the gateway (-want +got):\n%s", diff)
	}
}

// A send whose context ends while it waits in the lane leaves the queue
// without sending, and the sends behind it keep their order.
func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	h := newHoldFirst("tok")
	g := newFakeGateway(t, h.answer)
	m := newTestManager(t, g.URL, WithSendTimeout(time.Minute))
	mustRegister(t, m, "task:1", "tok")
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	calls := []func() error{
		func() error { return m.Send(context.Background(), "task:1", Event{Data: "0"}) },
		func() error { err := m.Send(ctx, "task:1", Event{Data: "cancelled"}); cancelled <- err; return nil },
		func() error { return m.Send(context.Background(), "task:1", Event{Data: "2"}) },
	}
	wg := startQueued(t, m, "task:1", calls, h.arrived["tok"])
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: err = %v, want context.Canceled", err)
	}
	close(h.release)
	wg.Wait()
	if diff := cmp.Diff([]string{"0", "2"}, h.got["tok"]); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := len(m.lanes.m); n != 0 {
		t.Errorf("%d lanes left after all sends ended, want 0", n)
	}
}

func TestSlowIdentifierDoesNotDelayAnother(t *testing.T) {
	release := make(chan struct{})
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if r.Token == "slow" {
			<-release
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithSendTimeout(30*time.Second))
	mustRegister(t, m, "task:slow", "slow")
	mustRegister(t, m, "task:fast", "fast")
	slowDone := make(chan error, 1)
	go func() { slowDone <- m.Send(context.Background(), "task:slow", Event{Data: "x"}) }()
	waitFor(t, "the slow send to reach the gateway", func() bool { return len(g.bodies()) == 1 })
	// With the slow send holding its lane (and the manager's maps), sends to
	// another identifier, registrations and lookups all complete.
	for i := range 5 {
		if err := m.Send(context.Background(), "task:fast", Event{Data: fmt.Sprint(i)}); err != nil {
			t.Fatalf("fast Send: %v", err)
		}
	}
	mustRegister(t, m, "task:other", "other")
	select {
	case err := <-slowDone:
		t.Fatalf("slow send finished early: %v", err)
	default:
	}
	close(release)
	if err := <-slowDone; err != nil {
		t.Fatalf("slow Send: %v", err)
	}
}

func TestGatewayErrorMessage(t *testing.T) {
	tests := []struct {
		err  *GatewayError
		want string
	}{
		{&GatewayError{StatusCode: 500, Code: "WRITE_FAILED", Message: "m"}, "sseconn: gateway answered 500 WRITE_FAILED: m"},
		{&GatewayError{StatusCode: 413, Message: "Request Entity Too Large (HTML body)"}, "sseconn: gateway answered 413: Request Entity Too Large (HTML body)"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// The answer body is read up to a cap: a gateway answering without end
// cannot make a send read forever. The server writes until the client
// hangs up, so without the cap the send would end only at its timeout,
// with a deadline error instead of the 500.
func TestSendCapsTheAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(500)
		chunk := []byte(strings.Repeat("z", 32<<10))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	m := newTestManager(t, srv.URL, WithSendTimeout(5*time.Second))
	mustRegister(t, m, "task:1", "tok")
	var ge *GatewayError
	if err := m.Send(context.Background(), "task:1", Event{Data: "x"}); !errors.As(err, &ge) || ge.StatusCode != 500 {
		t.Fatalf("err = %v, want a 500 GatewayError", err)
	}
	if len(ge.Message) > 300 {
		t.Errorf("message is %d bytes, want a short summary", len(ge.Message))
	}
}

// recordingDoer records the deadline of each request's context and
// answers ok.
type recordingDoer struct {
	mu        sync.Mutex
	deadlines []time.Duration // deadline minus the time Do was called
}

func (d *recordingDoer) Do(req *http.Request) (*http.Response, error) {
	dl, ok := req.Context().Deadline()
	d.mu.Lock()
	if ok {
		d.deadlines = append(d.deadlines, time.Until(dl))
	} else {
		d.deadlines = append(d.deadlines, -1)
	}
	d.mu.Unlock()
	return &http.Response{
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       http.NoBody,
		Request:    req,
	}, nil
}

// Every send is bounded by the per-send timeout, 2 s by default, by WithSendTimeout otherwise, and by a shorter caller deadline.
func TestSendTimeoutBoundsEachRequest(t *testing.T) {
	if DefaultSendTimeout != 2*time.Second {
		t.Errorf("DefaultSendTimeout = %v, want 2s", DefaultSendTimeout)
	}
	tests := []struct {
		name     string
		opts     []Option
		ctx      time.Duration // caller's deadline; 0: none
		min, max time.Duration
	}{
		// Sends from a context without cancellation share a deadline per
		// tick (see deadline.go): up to maxDeadlineTick later.
		{"default", nil, 0, 1500 * time.Millisecond, 2*time.Second + maxDeadlineTick},
		{"zero option means the default", []Option{WithSendTimeout(0)}, 0, 1500 * time.Millisecond, 2*time.Second + maxDeadlineTick},
		{"option", []Option{WithSendTimeout(7 * time.Second)}, 0, 6500 * time.Millisecond, 7*time.Second + maxDeadlineTick},
		{"shorter caller deadline wins", []Option{WithSendTimeout(7 * time.Second)}, 300 * time.Millisecond, time.Nanosecond, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &recordingDoer{}
			m := newTestManager(t, "http://127.0.0.1:1", append([]Option{WithDoer(d)}, tt.opts...)...)
			mustRegister(t, m, "task:1", "tok")
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			if err := m.Send(ctx, "task:1", Event{Data: "x"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.deadlines) != 1 {
				t.Fatalf("%d requests, want 1", len(d.deadlines))
			}
			if got := d.deadlines[0]; got < tt.min || got > tt.max {
				t.Errorf("request deadline in %v, want within [%v, %v]", got, tt.min, tt.max)
			}
		})
	}
}
