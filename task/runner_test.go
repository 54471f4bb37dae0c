package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	closeCompleted = `connection_close {"reason":"task_completed"} close`
	closeFailed    = `connection_close {"reason":"task_failed"} close`
	closeCancelled = `connection_close {"reason":"task_cancelled"} close`
	started        = `task_started {}`
	// cancelledAsFailed is the terminal event of a cancelled task without
	// WithCancelledEvent.
	cancelledAsFailed = `task_failed {"error":"task cancelled","code":"CANCELLED"}`
)

func progressLine(text string, v float64) string {
	return fmt.Sprintf(`progress_update {"text":%q,"value":%v}`, text, v)
}

// TestEventData checks the exact data of every kind of event.
func TestEventData(t *testing.T) {
	clock := newFakeClock()
	conn := newFakeConn()
	r := newTestRunner(t, conn, WithClock(clock.Now))

	s := newStepper(map[string]int{"n": 1})
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "tok")
	s.step(t, Update{Text: `half "way" <&>`, Value: 0.5})
	conn.WaitCount(t, "tok", 2)
	s.finish()
	got := conn.WaitClosed(t, "tok")

	ts := "2026-01-02T15:04:05.123Z"
	id := info.ID
	want := []sent{
		{Token: "tok", Event: sseconn.Event{Name: "task_event",
			Data: `{"event_type":"task_started","task_id":"` + id + `","timestamp":"` + ts + `","data":{}}`}},
		{Token: "tok", Event: sseconn.Event{Name: "task_event",
			Data: `{"event_type":"progress_update","task_id":"` + id + `","timestamp":"` + ts +
				`","data":{"text":"half \"way\" \u003c\u0026\u003e","value":0.5}}`}},
		{Token: "tok", Event: sseconn.Event{Name: "task_event",
			Data: `{"event_type":"task_completed","task_id":"` + id + `","timestamp":"` + ts + `","data":{"n":1}}`}},
		{Token: "tok", Close: true, Event: sseconn.Event{Name: "task_event",
			Data: `{"event_type":"connection_close","task_id":"` + id + `","timestamp":"` + ts +
				`","data":{"reason":"task_completed"}}`}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestOutcomes checks how a task function's return ends the task.
func TestOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		opts       []Option
		fn         Func
		wantStatus Status
		wantError  string
		wantResult string
		wantEvents []string
	}{
		{
			name:       "result",
			fn:         func(context.Context, *Progress) (any, error) { return []int{1, 2}, nil },
			wantStatus: StatusCompleted,
			wantResult: `[1,2]`,
			wantEvents: []string{started, `task_completed [1,2]`, closeCompleted},
		},
		{
			name:       "nil result",
			fn:         func(context.Context, *Progress) (any, error) { return nil, nil },
			wantStatus: StatusCompleted,
			wantResult: `null`,
			wantEvents: []string{started, `task_completed null`, closeCompleted},
		},
		{
			name:       "error",
			fn:         func(context.Context, *Progress) (any, error) { return nil, errors.New("disk full") },
			wantStatus: StatusFailed,
			wantError:  "disk full",
			wantEvents: []string{started, `task_failed {"error":"disk full"}`, closeFailed},
		},
		{
			name: "error with custom message",
			opts: []Option{WithErrorMessage(func(error) string { return "internal error" })},
			fn: func(context.Context, *Progress) (any, error) {
				return nil, errors.New("password=hunter2")
			},
			wantStatus: StatusFailed,
			wantError:  "internal error",
			wantEvents: []string{started, `task_failed {"error":"internal error"}`, closeFailed},
		},
		{
			name:       "panic",
			fn:         func(context.Context, *Progress) (any, error) { panic("boom") },
			wantStatus: StatusFailed,
			wantError:  "task panicked",
			wantEvents: []string{started, `task_failed {"error":"task panicked"}`, closeFailed},
		},
		{
			name:       "result not JSON-encodable",
			fn:         func(context.Context, *Progress) (any, error) { return make(chan int), nil },
			wantStatus: StatusFailed,
			wantError:  "task result is not JSON-encodable",
			wantEvents: []string{started, `task_failed {"error":"task result is not JSON-encodable"}`, closeFailed},
		},
		{
			name:       "result NaN",
			fn:         func(context.Context, *Progress) (any, error) { return math.NaN(), nil },
			wantStatus: StatusFailed,
			wantError:  "task result is not JSON-encodable",
			wantEvents: []string{started, `task_failed {"error":"task result is not JSON-encodable"}`, closeFailed},
		},
		{
			name:       "result MarshalJSON panics",
			fn:         func(context.Context, *Progress) (any, error) { return panicky{}, nil },
			wantStatus: StatusFailed,
			wantError:  "task panicked",
			wantEvents: []string{started, `task_failed {"error":"task panicked"}`, closeFailed},
		},
		{
			name:       "result too large",
			opts:       []Option{WithMaxResultBytes(10)},
			fn:         func(context.Context, *Progress) (any, error) { return strings.Repeat("x", 10), nil },
			wantStatus: StatusFailed,
			wantError:  "task result too large",
			wantEvents: []string{started, `task_failed {"error":"task result too large"}`, closeFailed},
		},
		{
			name:       "result at the limit",
			opts:       []Option{WithMaxResultBytes(10)},
			fn:         func(context.Context, *Progress) (any, error) { return strings.Repeat("x", 8), nil },
			wantStatus: StatusCompleted,
			wantResult: `"xxxxxxxx"`,
			wantEvents: []string{started, `task_completed "xxxxxxxx"`, closeCompleted},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeConn()
			r := newTestRunner(t, conn, tt.opts...)
			info := startTask(t, r, tt.fn)
			final := waitDone(t, r, info.ID)
			if final.Status != tt.wantStatus || final.Error != tt.wantError || string(final.Result) != tt.wantResult {
				t.Errorf("final = %q, error %q, result %s; want %q, %q, %s",
					final.Status, final.Error, final.Result, tt.wantStatus, tt.wantError, tt.wantResult)
			}
			connect(t, r, info.StreamURL, "tok")
			if diff := cmp.Diff(tt.wantEvents, summary(t, conn.ToToken("tok"))); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			// The runner survives: the next task runs.
			next := startTask(t, r, func(context.Context, *Progress) (any, error) { return 1, nil })
			if got := waitDone(t, r, next.ID).Status; got != StatusCompleted {
				t.Errorf("next task: %q, want completed", got)
			}
		})
	}
}

type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("marshal") }

// TestLiveOrder checks that events reach a connected stream in order.
func TestLiveOrder(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn)
	s := newStepper("done")
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "tok")
	conn.WaitCount(t, "tok", 1)
	var want []string
	want = append(want, started)
	for i := 1; i <= 5; i++ {
		text := fmt.Sprintf("step %d", i)
		s.step(t, Update{Text: text, Value: float64(i) / 10})
		want = append(want, progressLine(text, float64(i)/10))
		conn.WaitCount(t, "tok", len(want)) // no coalescing: each is sent before the next
	}
	s.finish()
	want = append(want, `task_completed "done"`, closeCompleted)
	got := conn.WaitClosed(t, "tok")
	if diff := cmp.Diff(want, summary(t, got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestReplayCoalesced checks that a browser connecting after the task
// finished gets the compacted log: started, latest progress, terminal,
// close.
func TestReplayCoalesced(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn)
	info := startTask(t, r, func(_ context.Context, p *Progress) (any, error) {
		for i := 1; i <= 100; i++ {
			p.Report(fmt.Sprintf("step %d", i), float64(i)/100)
		}
		return 42, nil
	})
	waitDone(t, r, info.ID)
	for _, tok := range []string{"first", "second"} { // a finished task replays to every new stream
		connect(t, r, info.StreamURL, tok)
		want := []string{started, progressLine("step 100", 1), `task_completed 42`, closeCompleted}
		if diff := cmp.Diff(want, summary(t, conn.ToToken(tok))); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", tok, diff)
		}
	}
}

// TestCoalesceWhileSending checks that reports made during a slow send
// coalesce to the latest.
func TestCoalesceWhileSending(t *testing.T) {
	conn, entered, release := blockOnce(`"text":"p1"`)
	r := newTestRunner(t, conn)
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "tok")
	conn.WaitCount(t, "tok", 1)
	s.step(t, Update{Text: "p1", Value: 0.1})
	<-entered
	for i := 2; i <= 10; i++ {
		s.step(t, Update{Text: fmt.Sprintf("p%d", i), Value: float64(i) / 10})
	}
	close(release)
	s.finish()
	got := conn.WaitClosed(t, "tok")
	want := []string{started, progressLine("p1", 0.1), progressLine("p10", 1), `task_completed null`, closeCompleted}
	if diff := cmp.Diff(want, summary(t, got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestReconnectMidTask checks that a new stream gets the latest progress,
// then live events, and that the old one gets nothing more.
func TestReconnectMidTask(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn)
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "a")
	s.step(t, Update{Text: "one", Value: 0.1})
	conn.WaitCount(t, "a", 2)
	s.step(t, Update{Text: "two", Value: 0.2})
	conn.WaitCount(t, "a", 3)

	connect(t, r, info.StreamURL, "b")
	if diff := cmp.Diff([]string{started, progressLine("two", 0.2)}, summary(t, conn.ToToken("b"))); diff != "" {
		t.Errorf("replay to b (-want +got):\n%s", diff)
	}
	s.step(t, Update{Text: "three", Value: 0.3})
	s.finish()
	got := conn.WaitClosed(t, "b")
	want := []string{started, progressLine("two", 0.2), progressLine("three", 0.3), `task_completed null`, closeCompleted}
	if diff := cmp.Diff(want, summary(t, got)); diff != "" {
		t.Errorf("events to b (-want +got):\n%s", diff)
	}
	wantA := []string{started, progressLine("one", 0.1), progressLine("two", 0.2)}
	if diff := cmp.Diff(wantA, summary(t, conn.ToToken("a"))); diff != "" {
		t.Errorf("events to a (-want +got):\n%s", diff)
	}
}

// TestConnectBeforeStart checks a stream that connects while the task is
// still queued.
func TestConnectBeforeStart(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn, WithWorkers(1))
	blocker := newStepper(nil)
	first := startTask(t, r, blocker.fn)
	s := newStepper("ok")
	info := startTask(t, r, s.fn)
	if got, _ := r.Get(info.ID); got.Status != StatusPending {
		t.Fatalf("status = %q, want pending", got.Status)
	}
	connect(t, r, info.StreamURL, "tok")
	if got := conn.ToToken("tok"); len(got) != 0 {
		t.Fatalf("pending task sent %v", summary(t, got))
	}
	blocker.finish()
	waitDone(t, r, first.ID)
	s.finish()
	got := conn.WaitClosed(t, "tok")
	if diff := cmp.Diff([]string{started, `task_completed "ok"`, closeCompleted}, summary(t, got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestHandoff races emits against connects, with a Conn that resolves the
// token of a send as late as possible, and checks every stream's view.
func TestHandoff(t *testing.T) {
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	conn := newFakeConn()
	conn.ResolveLate = true
	var n atomic.Int64
	conn.SetHook(func(context.Context, string, sseconn.Event) error {
		if n.Add(1)%3 == 0 {
			runtimeYield()
		}
		return nil
	})
	r := newTestRunner(t, conn, WithWorkers(4))
	for i := range iterations {
		info := startTask(t, r, func(_ context.Context, p *Progress) (any, error) {
			for j := 1; j <= 10; j++ {
				p.Report(fmt.Sprintf("s%02d", j), float64(j)/10)
			}
			return "r", nil
		})
		tokens := []string{fmt.Sprintf("%d-a", i), fmt.Sprintf("%d-b", i), fmt.Sprintf("%d-c", i)}
		var wg sync.WaitGroup
		for _, tok := range tokens[:2] {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				defer cancel()
				// A superseded connect is rejected; that is fine here.
				_, _ = r.Connect(ctx, connectReq(t, r, info.StreamURL, tok))
			})
		}
		wg.Wait()
		connect(t, r, info.StreamURL, tokens[2])
		waitDone(t, r, info.ID)
		final := conn.WaitClosed(t, tokens[2])
		checkView(t, tokens[2], summary(t, final), true)
		for _, tok := range tokens[:2] {
			checkView(t, tok, summary(t, conn.ToToken(tok)), false)
		}
		if t.Failed() {
			t.Fatalf("iteration %d", i)
		}
	}
}

func runtimeYield() {
	done := make(chan struct{})
	go close(done)
	<-done
}

// checkView checks one stream's events: task_started first, progress
// strictly increasing (no duplicate, no reordering), at most one terminal
// event and then connection_close last. A complete view must end with
// them.
func checkView(t *testing.T, token string, view []string, complete bool) {
	t.Helper()
	if len(view) == 0 {
		if complete {
			t.Errorf("%s: no events", token)
		}
		return
	}
	if view[0] != started {
		t.Errorf("%s: first event %q, want task_started; view %q", token, view[0], view)
	}
	lastProgress := ""
	terminal := 0
	for i, line := range view[1:] {
		switch typ, _, _ := strings.Cut(line, " "); typ {
		case TypeProgress:
			if terminal > 0 || line <= lastProgress {
				t.Errorf("%s: progress %q after %q (terminal %d); view %q", token, line, lastProgress, terminal, view)
			}
			lastProgress = line
		case TypeCompleted, TypeFailed, TypeCancelled:
			terminal++
		case TypeClose:
			if i+2 != len(view) || terminal != 1 || !strings.HasSuffix(line, " close") {
				t.Errorf("%s: misplaced close; view %q", token, view)
			}
		default:
			t.Errorf("%s: unexpected %q; view %q", token, line, view)
		}
	}
	if terminal > 1 {
		t.Errorf("%s: %d terminal events; view %q", token, terminal, view)
	}
	if complete && (terminal != 1 || !strings.HasPrefix(view[len(view)-1], TypeClose)) {
		t.Errorf("%s: incomplete view %q", token, view)
	}
}

// TestSupersededConnect checks that a connect waiting for an older stream's
// send gives way to a newer connect.
func TestSupersededConnect(t *testing.T) {
	conn, entered, release := blockOnce(`"text":"slow"`)
	r := newTestRunner(t, conn)
	waiting := make(chan struct{}, 2)
	r.hookWait = func() { waiting <- struct{}{} }
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "a")
	s.step(t, Update{Text: "slow", Value: 0.5})
	<-entered

	errB := make(chan error, 1)
	go func() {
		_, err := r.Connect(context.Background(), connectReq(t, r, info.StreamURL, "b"))
		errB <- err
	}()
	<-waiting
	errC := make(chan error, 1)
	go func() {
		_, err := r.Connect(context.Background(), connectReq(t, r, info.StreamURL, "c"))
		errC <- err
	}()
	<-waiting
	close(release)
	if err := <-errC; err != nil {
		t.Fatalf("Connect(c): %v", err)
	}
	var rej *callback.Rejection
	if err := <-errB; !errors.As(err, &rej) || rej.Status != http.StatusConflict {
		t.Fatalf("Connect(b) = %v, want a 409 rejection", err)
	}
	if diff := cmp.Diff([]string{started, progressLine("slow", 0.5)}, summary(t, conn.ToToken("c"))); diff != "" {
		t.Errorf("events to c (-want +got):\n%s", diff)
	}
	if got := conn.ToToken("b"); len(got) != 0 {
		t.Errorf("b got %q", summary(t, got))
	}
	s.finish()
	conn.WaitClosed(t, "c")
}

// blockOnce returns a fake Conn whose first send of an event containing
// substr signals entered and blocks until release is closed.
func blockOnce(substr string) (conn *fakeConn, entered, release chan struct{}) {
	conn = newFakeConn()
	entered = make(chan struct{})
	release = make(chan struct{})
	var once sync.Once
	conn.SetHook(func(_ context.Context, _ string, ev sseconn.Event) error {
		if strings.Contains(ev.Data, substr) {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
		return nil
	})
	return conn, entered, release
}

// TestConnectWaitTimeout checks that a connect stops waiting for an older
// stream's send when its context ends.
func TestConnectWaitTimeout(t *testing.T) {
	conn, entered, release := blockOnce(`"text":"slow"`)
	r := newTestRunner(t, conn)
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "a")
	s.step(t, Update{Text: "slow", Value: 0.5})
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	r.hookWait = cancel
	_, err := r.Connect(ctx, connectReq(t, r, info.StreamURL, "b"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect = %v, want context.Canceled", err)
	}
	r.hookWait = nil
	close(release)
	connect(t, r, info.StreamURL, "c")
	s.finish()
	got := conn.WaitClosed(t, "c")
	want := []string{started, progressLine("slow", 0.5), `task_completed null`, closeCompleted}
	if diff := cmp.Diff(want, summary(t, got)); diff != "" {
		t.Errorf("events to c (-want +got):\n%s", diff)
	}
}

// TestUnknownTask checks the stream of an unknown task.
func TestUnknownTask(t *testing.T) {
	clock := newFakeClock()
	conn := newFakeConn()
	r := newTestRunner(t, conn, WithClock(clock.Now))
	connect(t, r, "/api/sse/tasks?task_id=nope", "tok")
	ts := "2026-01-02T15:04:05.123Z"
	want := []sent{
		{Token: "tok", Event: sseconn.Event{Name: "task_event",
			Data: `{"event_type":"task_failed","task_id":"nope","timestamp":"` + ts + `","data":{"error":"task not found","code":"TASK_NOT_FOUND"}}`}},
		{Token: "tok", Close: true, Event: sseconn.Event{Name: "task_event",
			Data: `{"event_type":"connection_close","task_id":"nope","timestamp":"` + ts + `","data":{"reason":"task_not_found"}}`}},
	}
	if diff := cmp.Diff(want, conn.ToToken("tok")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"tok"}, registeredOf(conn)); diff != "" {
		t.Errorf("registered (-want +got):\n%s", diff)
	}
}

// TestUnknownTaskSendFails checks that a failed not-found notice fails the
// connect and unregisters the stream.
func TestUnknownTaskSendFails(t *testing.T) {
	conn := newFakeConn()
	conn.SetHook(func(context.Context, string, sseconn.Event) error { return sseconn.ErrGone })
	r := newTestRunner(t, conn)
	_, err := r.Connect(context.Background(), connectReq(t, r, "/api/sse/tasks?task_id=nope", "tok"))
	if !errors.Is(err, sseconn.ErrGone) {
		t.Fatalf("Connect = %v, want ErrGone", err)
	}
	if diff := cmp.Diff([]string{"tok"}, unregisteredOf(conn)); diff != "" {
		t.Errorf("unregistered (-want +got):\n%s", diff)
	}
}

// TestRegisterFails checks that a refused registration fails the connect
// and that a later connect still works.
func TestRegisterFails(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn)
	info := startTask(t, r, func(context.Context, *Progress) (any, error) { return 1, nil })
	waitDone(t, r, info.ID)
	conn.SetRegisterErr(sseconn.ErrShutdown)
	_, err := r.Connect(context.Background(), connectReq(t, r, info.StreamURL, "a"))
	if !errors.Is(err, sseconn.ErrShutdown) {
		t.Fatalf("Connect = %v, want ErrShutdown", err)
	}
	conn.SetRegisterErr(nil)
	connect(t, r, info.StreamURL, "b")
	if diff := cmp.Diff([]string{started, `task_completed 1`, closeCompleted}, summary(t, conn.ToToken("b"))); diff != "" {
		t.Errorf("events to b (-want +got):\n%s", diff)
	}
}

// TestRetention checks that finished tasks expire after the retention, on
// access and by the sweep.
func TestRetention(t *testing.T) {
	clock := newFakeClock()
	conn := newFakeConn()
	const retention = time.Minute
	r := newTestRunner(t, conn, WithClock(clock.Now), WithRetention(retention))

	a := startTask(t, r, func(context.Context, *Progress) (any, error) { return 1, nil })
	waitDone(t, r, a.ID)
	b := startTask(t, r, newStepper(nil).fn) // still running: never expires
	connect(t, r, b.StreamURL, "b")
	c := startTask(t, r, func(context.Context, *Progress) (any, error) { return 3, nil })
	waitDone(t, r, c.ID)
	// c's stream stays registered: its disconnect callback was lost.
	conn.SetHook(func(context.Context, string, sseconn.Event) error { return errors.New("gateway down") })
	connect(t, r, c.StreamURL, "c")
	conn.SetHook(nil)

	clock.Advance(retention - time.Millisecond)
	if _, ok := r.Get(a.ID); !ok {
		t.Fatal("task dropped before its retention")
	}
	clock.Advance(time.Millisecond)
	if _, ok := r.Get(a.ID); ok {
		t.Fatal("task kept after its retention")
	}
	if err := r.Cancel(a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Cancel = %v, want ErrNotFound", err)
	}
	connect(t, r, a.StreamURL, "late")
	want := []string{`task_failed {"error":"task not found","code":"TASK_NOT_FOUND"}`, `connection_close {"reason":"task_not_found"} close`}
	if diff := cmp.Diff(want, summary(t, conn.ToToken("late"))); diff != "" {
		t.Errorf("late events (-want +got):\n%s", diff)
	}

	r.sweep()
	r.mu.Lock()
	_, hasB := r.tasks[b.ID]
	_, hasC := r.tasks[c.ID]
	n := len(r.tasks)
	r.mu.Unlock()
	if !hasB || hasC || n != 1 {
		t.Errorf("after sweep: running kept %v, finished kept %v, %d tasks; want true, false, 1", hasB, hasC, n)
	}
	unreg := unregisteredOf(conn)
	if diff := cmp.Diff([]string{"c"}, unreg); diff != "" {
		t.Errorf("unregistered (-want +got):\n%s", diff)
	}
	must(t, r.Cancel(b.ID))
}

// TestPoolBound checks that no more than the pool's workers run at once.
func TestPoolBound(t *testing.T) {
	const workers, tasks = 3, 30
	conn := newFakeConn()
	r := newTestRunner(t, conn, WithWorkers(workers))
	var running, peak atomic.Int64
	begun := make(chan struct{}, tasks)
	release := make(chan struct{})
	ids := make([]string, 0, tasks)
	for range tasks {
		info := startTask(t, r, func(context.Context, *Progress) (any, error) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			begun <- struct{}{}
			<-release
			running.Add(-1)
			return nil, nil
		})
		ids = append(ids, info.ID)
	}
	for range workers {
		<-begun
	}
	pending := 0
	for _, id := range ids {
		if info, _ := r.Get(id); info.Status == StatusPending {
			pending++
		}
	}
	if pending != tasks-workers {
		t.Errorf("%d pending, want %d", pending, tasks-workers)
	}
	for i := range tasks {
		release <- struct{}{}
		if i+workers < tasks {
			<-begun
		}
	}
	for _, id := range ids {
		waitDone(t, r, id)
	}
	if got := peak.Load(); got != workers {
		t.Errorf("peak concurrency %d, want %d", got, workers)
	}
}

// TestQueueFull checks the bound of the queue.
func TestQueueFull(t *testing.T) {
	tests := []struct {
		workers, queue int
	}{
		{1, 0},
		{1, 2},
		{3, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("workers=%d,queue=%d", tt.workers, tt.queue), func(t *testing.T) {
			r := newTestRunner(t, newFakeConn(), WithWorkers(tt.workers), WithQueueSize(tt.queue))
			s := newStepper(nil)
			var ids []string
			for range tt.workers + tt.queue {
				ids = append(ids, startTask(t, r, s.fn).ID)
			}
			if _, err := r.Start(context.Background(), s.fn); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Start beyond the bound = %v, want ErrQueueFull", err)
			}
			s.finish()
			for _, id := range ids {
				if got := waitDone(t, r, id).Status; got != StatusCompleted {
					t.Errorf("task %s: %q", id, got)
				}
			}
		})
	}
}

// TestCancel checks cancelling running, pending, finished and unknown
// tasks.
func TestCancel(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn, WithWorkers(1))

	running := newStepper(nil)
	a := startTask(t, r, running.fn)
	connect(t, r, a.StreamURL, "a")
	conn.WaitCount(t, "a", 1) // a runs
	var ran atomic.Bool
	b := startTask(t, r, func(context.Context, *Progress) (any, error) { ran.Store(true); return nil, nil })
	connect(t, r, b.StreamURL, "b")

	must(t, r.Cancel(b.ID))
	if got := waitDone(t, r, b.ID); got.Status != StatusCancelled || !got.Started.IsZero() {
		t.Errorf("pending task: %q, started %v; want cancelled, never started", got.Status, got.Started)
	}
	if diff := cmp.Diff([]string{cancelledAsFailed, closeCancelled}, summary(t, conn.WaitClosed(t, "b"))); diff != "" {
		t.Errorf("pending task events (-want +got):\n%s", diff)
	}

	must(t, r.Cancel(a.ID))
	if got := waitDone(t, r, a.ID).Status; got != StatusCancelled {
		t.Errorf("running task: %q, want cancelled", got)
	}
	if diff := cmp.Diff([]string{started, cancelledAsFailed, closeCancelled}, summary(t, conn.WaitClosed(t, "a"))); diff != "" {
		t.Errorf("running task events (-want +got):\n%s", diff)
	}

	must(t, r.Cancel(a.ID)) // finished: no-op
	if got, _ := r.Get(a.ID); got.Status != StatusCancelled {
		t.Errorf("after second cancel: %q", got.Status)
	}
	if err := r.Cancel("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Cancel(unknown) = %v, want ErrNotFound", err)
	}

	// The worker skips the cancelled queued task and takes the next.
	c := startTask(t, r, func(context.Context, *Progress) (any, error) { return 1, nil })
	waitDone(t, r, c.ID)
	if ran.Load() {
		t.Error("cancelled pending task ran")
	}
}

// TestCancelledEvent checks the terminal event of a cancelled task, running
// or pending, with and without WithCancelledEvent; the close reason says
// task_cancelled either way.
func TestCancelledEvent(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"default", nil, cancelledAsFailed},
		{"WithCancelledEvent", []Option{WithCancelledEvent()}, `task_cancelled {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeConn()
			r := newTestRunner(t, conn, append([]Option{WithWorkers(1)}, tt.opts...)...)
			a := startTask(t, r, newStepper(nil).fn)
			connect(t, r, a.StreamURL, "a")
			conn.WaitCount(t, "a", 1) // a runs
			b := startTask(t, r, newStepper(nil).fn)
			connect(t, r, b.StreamURL, "b")
			must(t, r.Cancel(b.ID))
			must(t, r.Cancel(a.ID))
			got := map[string][]string{
				"a": summary(t, conn.WaitClosed(t, "a")),
				"b": summary(t, conn.WaitClosed(t, "b")),
			}
			want := map[string][]string{
				"a": {started, tt.want, closeCancelled},
				"b": {tt.want, closeCancelled},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			for _, id := range []string{a.ID, b.ID} {
				if info := waitDone(t, r, id); info.Status != StatusCancelled || info.Error != "" {
					t.Errorf("task %s: status %q, error %q; want cancelled, no error", id, info.Status, info.Error)
				}
			}
		})
	}
}

// TestCancelIgnored checks that a task that returns a result despite the
// cancellation completes.
func TestCancelIgnored(t *testing.T) {
	r := newTestRunner(t, newFakeConn())
	begun := make(chan struct{})
	info := startTask(t, r, func(ctx context.Context, _ *Progress) (any, error) {
		close(begun)
		<-ctx.Done()
		return "finished anyway", nil
	})
	<-begun
	must(t, r.Cancel(info.ID))
	if got := waitDone(t, r, info.ID); got.Status != StatusCompleted || string(got.Result) != `"finished anyway"` {
		t.Errorf("final = %q %s, want completed", got.Status, got.Result)
	}
}

// TestShutdown checks that Shutdown cancels pending and running tasks,
// waits for them and their last events, and refuses new tasks.
func TestShutdown(t *testing.T) {
	conn := newFakeConn()
	r, err := New(conn, WithWorkers(2))
	must(t, err)
	var ids []string
	begun := make(chan struct{}, 2)
	for range 2 {
		info := startTask(t, r, func(ctx context.Context, _ *Progress) (any, error) {
			begun <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
		connect(t, r, info.StreamURL, info.ID)
		ids = append(ids, info.ID)
	}
	<-begun
	<-begun
	var ran atomic.Bool
	queued := startTask(t, r, func(context.Context, *Progress) (any, error) { ran.Store(true); return nil, nil })
	ids = append(ids, queued.ID)

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	must(t, r.Shutdown(ctx))
	for _, id := range ids {
		info, ok := r.Get(id)
		if !ok || info.Status != StatusCancelled {
			t.Errorf("task %s: %q, %v; want cancelled", id, info.Status, ok)
		}
	}
	if ran.Load() {
		t.Error("queued task ran")
	}
	for _, id := range ids[:2] { // sent before Shutdown returned
		want := []string{started, cancelledAsFailed, closeCancelled}
		if diff := cmp.Diff(want, summary(t, conn.ToToken(id))); diff != "" {
			t.Errorf("events of %s (-want +got):\n%s", id, diff)
		}
	}
	if _, err := r.Start(context.Background(), newStepper(nil).fn); !errors.Is(err, ErrShutdown) {
		t.Errorf("Start after Shutdown = %v, want ErrShutdown", err)
	}
	must(t, r.Shutdown(ctx)) // idempotent
}

// TestShutdownTimeout checks that Shutdown gives up when its context ends
// and can be called again.
func TestShutdownTimeout(t *testing.T) {
	r, err := New(newFakeConn(), WithWorkers(1))
	must(t, err)
	begun := make(chan struct{})
	release := make(chan struct{})
	startTask(t, r, func(context.Context, *Progress) (any, error) { // ignores its context
		close(begun)
		<-release
		return nil, nil
	})
	<-begun
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	close(release)
	must(t, r.Shutdown(context.Background()))
}

// TestGet checks the snapshots of a task's life.
func TestGet(t *testing.T) {
	clock := newFakeClock()
	r := newTestRunner(t, newFakeConn(), WithClock(clock.Now))
	t0 := clock.Now()
	s := newStepper(map[string]string{"file": "a.pdf"})
	info := startTask(t, r, s.fn)
	if !regexp.MustCompile(`^/api/sse/tasks\?task_id=[0-9a-f-]{36}$`).MatchString(info.StreamURL) ||
		!strings.HasSuffix(info.StreamURL, info.ID) {
		t.Errorf("StreamURL = %q", info.StreamURL)
	}
	want := Info{ID: info.ID, StreamURL: info.StreamURL, Status: StatusPending, Created: t0}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("Start (-want +got):\n%s", diff)
	}
	s.step(t, Update{Text: "half", Value: 0.5})
	got, ok := r.Get(info.ID)
	want.Status, want.Started, want.Progress = StatusRunning, t0, Update{Text: "half", Value: 0.5}
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Errorf("running, known %v (-want +got):\n%s", ok, diff)
	}
	clock.Advance(time.Second)
	s.finish()
	got = waitDone(t, r, info.ID)
	want.Status, want.Finished, want.Result = StatusCompleted, t0.Add(time.Second), []byte(`{"file":"a.pdf"}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("completed (-want +got):\n%s", diff)
	}
	if _, ok := r.Get("nope"); ok {
		t.Error("Get(unknown) reported a task")
	}
	if _, err := r.Wait(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wait(unknown) = %v, want ErrNotFound", err)
	}
}

// TestWaitContext checks that Wait returns when its context ends.
func TestWaitContext(t *testing.T) {
	r := newTestRunner(t, newFakeConn())
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Wait(ctx, info.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
	s.finish()
}

// TestProgressClamp checks that progress stays in [0, 1] and never
// decreases.
func TestProgressClamp(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		want   []float64
	}{
		{"increasing", []float64{0, 0.25, 0.5, 1}, []float64{0, 0.25, 0.5, 1}},
		{"decrease keeps the last", []float64{0.5, 0.3, 0.6}, []float64{0.5, 0.5, 0.6}},
		{"below zero", []float64{-1, 0.1}, []float64{0, 0.1}},
		{"above one", []float64{1.5, 0.2}, []float64{1, 1}},
		{"NaN keeps the last", []float64{0.4, math.NaN(), 0.5}, []float64{0.4, 0.4, 0.5}},
		{"infinities", []float64{math.Inf(-1), math.Inf(1)}, []float64{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeConn()
			r := newTestRunner(t, conn)
			s := newStepper(nil)
			info := startTask(t, r, s.fn)
			connect(t, r, info.StreamURL, "tok")
			var got []float64
			for i, v := range tt.values {
				s.step(t, Update{Text: fmt.Sprint(i), Value: v})
				evs := conn.WaitCount(t, "tok", i+2)
				var u Update
				must(t, json.Unmarshal(decode(t, evs[i+1].Event).Data, &u))
				got = append(got, u.Value)
				if snap, _ := r.Get(info.ID); snap.Progress != u {
					t.Errorf("Get().Progress = %v, sent %v", snap.Progress, u)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			s.finish()
		})
	}
}

// TestReportAfterReturn checks that a leaked progress handle is harmless.
func TestReportAfterReturn(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn)
	var leaked *Progress
	info := startTask(t, r, func(_ context.Context, p *Progress) (any, error) { leaked = p; return nil, nil })
	waitDone(t, r, info.ID)
	leaked.Report("late", 1)
	(*Progress)(nil).Report("nil", 1)
	connect(t, r, info.StreamURL, "tok")
	want := []string{started, `task_completed null`, closeCompleted}
	if diff := cmp.Diff(want, summary(t, conn.ToToken("tok"))); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestSendErrors checks what a failed send does to delivery.
func TestSendErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		// resumes reports whether the next event resumes delivery to the
		// same stream, starting with the failed event.
		resumes bool
	}{
		{"gone", fmt.Errorf("send: %w", sseconn.ErrGone), false},
		{"not connected", sseconn.ErrNotConnected, false},
		{"transient", errors.New("503 from a proxy"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeConn()
			var fail atomic.Bool
			failed := make(chan struct{})
			conn.SetHook(func(context.Context, string, sseconn.Event) error {
				if fail.CompareAndSwap(true, false) {
					close(failed)
					return tt.err
				}
				return nil
			})
			r := newTestRunner(t, conn)
			s := newStepper(nil)
			info := startTask(t, r, s.fn)
			connect(t, r, info.StreamURL, "a")
			conn.WaitCount(t, "a", 1)
			fail.Store(true)
			s.step(t, Update{Text: "lost?", Value: 0.1})
			<-failed
			waitIdle(t, r, info.ID)
			s.step(t, Update{Text: "next", Value: 0.2})
			if tt.resumes {
				got := conn.WaitCount(t, "a", 2)
				want := []string{started, progressLine("next", 0.2)} // the failed report was replaced
				if diff := cmp.Diff(want, summary(t, got)); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			} else {
				waitIdle(t, r, info.ID)
				if got := conn.ToToken("a"); len(got) != 1 {
					t.Errorf("sent after %v: %q", tt.err, summary(t, got))
				}
			}
			connect(t, r, info.StreamURL, "b")
			want := []string{started, progressLine("next", 0.2)}
			if diff := cmp.Diff(want, summary(t, conn.ToToken("b"))); diff != "" {
				t.Errorf("replay (-want +got):\n%s", diff)
			}
			s.finish()
			conn.WaitClosed(t, "b")
		})
	}
}

// TestResumeStalled checks that a delivery that stopped on a transient
// error resumes after a backoff when no further event comes.
func TestResumeStalled(t *testing.T) {
	conn := newFakeConn()
	var fails atomic.Int64
	fails.Store(2)
	failed := make(chan struct{}, 2)
	conn.SetHook(func(_ context.Context, _ string, ev sseconn.Event) error {
		if strings.Contains(ev.Data, TypeCompleted) && fails.Add(-1) >= 0 {
			failed <- struct{}{}
			return errors.New("timeout")
		}
		return nil
	})
	r := newTestRunner(t, conn)
	s := newStepper("ok")
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "a")
	conn.WaitCount(t, "a", 1)
	s.finish()
	waitDone(t, r, info.ID)
	r.mu.Lock()
	tk := r.tasks[info.ID]
	r.mu.Unlock()

	var delays []time.Duration
	for range 2 {
		<-failed
		waitIdle(t, r, info.ID)
		tk.mu.Lock()
		retryAt, n := tk.retryAt, tk.failures
		tk.mu.Unlock()
		delays = append(delays, retryDelay(n))
		r.resume(retryAt.Add(-time.Nanosecond)) // too early
		if got := len(conn.ToToken("a")); got != 1 {
			t.Fatalf("%d events before the backoff ended, want 1", got)
		}
		r.resume(retryAt)
	}
	got := conn.WaitClosed(t, "a")
	if diff := cmp.Diff([]string{started, `task_completed "ok"`, closeCompleted}, summary(t, got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{retryBase, 2 * retryBase}, delays); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	r.mu.Lock()
	n := len(r.stalled)
	r.mu.Unlock()
	if n != 0 {
		t.Errorf("%d stalled tasks left", n)
	}
}

func TestRetryDelay(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 10; n++ {
		got = append(got, retryDelay(n))
	}
	want := []time.Duration{
		250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second,
		8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retryDelay (-want +got):\n%s", diff)
	}
}

// TestSkipInvalid checks that an event the Conn refuses for good is skipped.
func TestSkipInvalid(t *testing.T) {
	conn := newFakeConn()
	conn.SetHook(func(_ context.Context, _ string, ev sseconn.Event) error {
		if strings.Contains(ev.Data, "huge") {
			return fmt.Errorf("send: %w", sseconn.ErrTooLarge)
		}
		return nil
	})
	r := newTestRunner(t, conn)
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "a")
	s.step(t, Update{Text: "huge", Value: 0.5})
	conn.WaitCount(t, "a", 1)
	waitIdle(t, r, info.ID)
	s.finish()
	got := conn.WaitClosed(t, "a")
	if diff := cmp.Diff([]string{started, `task_completed null`, closeCompleted}, summary(t, got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestDisconnect checks that a disconnect stops delivery to its stream
// only.
func TestDisconnect(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn)
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	connect(t, r, info.StreamURL, "a")
	conn.WaitCount(t, "a", 1)
	connect(t, r, info.StreamURL, "b")
	disconnect(t, r, info.StreamURL, "a") // stale: b stays
	s.step(t, Update{Text: "one", Value: 0.1})
	conn.WaitCount(t, "b", 2)
	disconnect(t, r, info.StreamURL, "b")
	s.step(t, Update{Text: "two", Value: 0.2})
	waitIdle(t, r, info.ID)
	if got := len(conn.ToToken("b")); got != 2 {
		t.Errorf("b got %d events after its disconnect, want 2", got)
	}
	unreg := unregisteredOf(conn)
	if diff := cmp.Diff([]string{"a", "b"}, unreg); diff != "" {
		t.Errorf("unregistered (-want +got):\n%s", diff)
	}
	// A disconnect for another kind or an unknown task only unregisters.
	must(t, r.Disconnect(context.Background(), connectReq(t, r, "/api/sse/tasks?task_id=nope", "x")))
	s.finish()
	waitDone(t, r, info.ID)
}

// waitIdle waits until no sender works for the task.
func waitIdle(t testing.TB, r *Runner, id string) {
	t.Helper()
	r.mu.Lock()
	tk := r.tasks[id]
	r.mu.Unlock()
	tk.mu.Lock()
	if !tk.sending {
		tk.mu.Unlock()
		return
	}
	idle := tk.idleLocked()
	tk.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(waitTimeout):
		t.Fatal("sender did not finish")
	}
}

func TestStatusDone(t *testing.T) {
	want := map[Status]bool{
		StatusPending: false, StatusRunning: false,
		StatusCompleted: true, StatusFailed: true, StatusCancelled: true,
	}
	got := make(map[Status]bool)
	for s := range want {
		got[s] = s.Done()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Done (-want +got):\n%s", diff)
	}
}

// TestAutoResume checks that the runner resumes a stalled delivery on its
// own.
func TestAutoResume(t *testing.T) {
	conn := newFakeConn()
	var failed atomic.Bool
	conn.SetHook(func(_ context.Context, _ string, ev sseconn.Event) error {
		if strings.Contains(ev.Data, TypeCompleted) && failed.CompareAndSwap(false, true) {
			return errors.New("timeout")
		}
		return nil
	})
	r, err := New(conn)
	must(t, err)
	t.Cleanup(func() { must(t, r.Shutdown(context.Background())) })
	info := startTask(t, r, func(context.Context, *Progress) (any, error) { return "ok", nil })
	connect(t, r, info.StreamURL, "a")
	got := conn.WaitClosed(t, "a") // within about retryBase
	if diff := cmp.Diff([]string{started, `task_completed "ok"`, closeCompleted}, summary(t, got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if !failed.Load() {
		t.Error("no send failed")
	}
}
