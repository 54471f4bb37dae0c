package task_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

// Every task.Conn the package is used with.
var _ task.Conn = (*sseconn.Manager)(nil)

const e2eTimeout = 15 * time.Second

// env is a backend (callback handler, manager, runner) behind an in-process
// gateway, over real loopback HTTP.
type env struct {
	gw      *gatewaytest.Server
	conns   *sseconn.Manager
	runner  *task.Runner
	cb      *callback.Handler
	backend *httptest.Server
	once    sync.Once
}

// newEnv starts a backend and a gateway of the given generation; they are
// torn down at the end of the test, or by env.close.
func newEnv(t testing.TB, generation int, opts ...task.Option) *env {
	t.Helper()
	const secret = "s3cr3t"
	mux := http.NewServeMux()
	e := &env{backend: httptest.NewServer(mux)}
	e.gw = gatewaytest.NewServer(e.backend.URL+"/api/sse/callback?secret="+secret,
		gatewaytest.WithGeneration(generation))
	var err error
	if e.conns, err = sseconn.New(e.gw.URL); err != nil {
		t.Fatalf("sseconn.New: %v", err)
	}
	if e.runner, err = task.New(e.conns, opts...); err != nil {
		t.Fatalf("task.New: %v", err)
	}
	e.cb, err = callback.NewHandler(callback.WithSecret(secret),
		callback.WithRoute(e.runner.Matcher(), e.runner))
	if err != nil {
		t.Fatalf("callback.NewHandler: %v", err)
	}
	mux.Handle("POST /api/sse/callback", e.cb)
	t.Cleanup(func() { e.close(t) })
	return e
}

// close shuts everything down in order: tasks (and their last events), the
// callback handler, the gateway (streams end, disconnects arrive), the
// manager, the backend.
func (e *env) close(t testing.TB) {
	t.Helper()
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
		defer cancel()
		if err := e.runner.Shutdown(ctx); err != nil {
			t.Errorf("runner.Shutdown: %v", err)
		}
		if err := e.cb.Shutdown(ctx); err != nil {
			t.Errorf("callback Shutdown: %v", err)
		}
		e.gw.Close()
		if err := e.conns.Shutdown(ctx); err != nil {
			t.Errorf("sseconn Shutdown: %v", err)
		}
		e.backend.Close()
	})
}

// stream is a browser following one task.
type stream struct {
	t  testing.TB
	st *gatewaytest.Stream
}

// open opens the stream of streamURL and checks that the gateway answered
// with a stream.
func (e *env) open(t testing.TB, streamURL string) *stream {
	t.Helper()
	st, err := e.tryOpen(t, streamURL)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tryOpen is open for goroutines other than the test's: it returns an
// error instead of failing the test.
func (e *env) tryOpen(t testing.TB, streamURL string) (*stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	st, err := e.gw.Connect(ctx, streamURL, nil)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", streamURL, err)
	}
	t.Cleanup(st.Close)
	if st.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("connect %s: status %d, body %s", streamURL, st.StatusCode, st.Body())
	}
	return &stream{t: t, st: st}, nil
}

// next returns the next task event, skipping the generation-2 ready event,
// rendered like "progress_update {"text":"a","value":0.5}". It returns
// io.EOF once the stream has ended.
func (s *stream) next() (string, error) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	for {
		ev, err := s.st.Next(ctx)
		if err != nil {
			return "", err
		}
		ev = ev.Unwrap()
		if ev.Name == "ready" {
			continue
		}
		if ev.Name != task.EventName {
			return "", fmt.Errorf("event %q with data %q, want %q", ev.Name, ev.Data, task.EventName)
		}
		var m task.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			return "", fmt.Errorf("event data %q: %w", ev.Data, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, m.Timestamp); err != nil || !strings.HasSuffix(m.Timestamp, "Z") ||
			len(m.Timestamp) != len("2006-01-02T15:04:05.000Z") {
			return "", fmt.Errorf("timestamp %q is not RFC 3339 UTC with milliseconds", m.Timestamp)
		}
		return m.EventType + " " + string(m.Data), nil
	}
}

// expect reads len(want) events and compares them.
func (s *stream) expect(want ...string) {
	s.t.Helper()
	got := make([]string, 0, len(want))
	for range want {
		line, err := s.next()
		if err != nil {
			s.t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, line)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		s.t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// expectEOF checks that the stream has ended.
func (s *stream) expectEOF() {
	s.t.Helper()
	if line, err := s.next(); !errors.Is(err, io.EOF) {
		s.t.Fatalf("after the last event: %q, %v; want io.EOF", line, err)
	}
}

// all reads every event until the stream ends.
func (s *stream) all() []string {
	s.t.Helper()
	got, err := s.tryAll()
	if err != nil {
		s.t.Fatal(err)
	}
	return got
}

// tryAll is all for goroutines other than the test's.
func (s *stream) tryAll() ([]string, error) {
	var got []string
	for {
		line, err := s.next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("after %q: %w", got, err)
		}
		got = append(got, line)
	}
}

const (
	evStarted      = `task_started {}`
	closeCompleted = `connection_close {"reason":"task_completed"}`
	// cancelledAsFailed is the terminal event of a cancelled task without
	// WithCancelledEvent.
	cancelledAsFailed = `task_failed {"error":"task cancelled","code":"CANCELLED"}`
)

func progress(text string, v float64) string {
	return fmt.Sprintf(`progress_update {"text":%q,"value":%v}`, text, v)
}

// stepper is a controllable task function: every Update sent on steps is
// reported and then acknowledged; closing steps returns result.
type stepper struct {
	steps  chan task.Update
	acks   chan struct{}
	result any
}

func newStepper(result any) *stepper {
	return &stepper{steps: make(chan task.Update), acks: make(chan struct{}), result: result}
}

func (s *stepper) fn(ctx context.Context, p *task.Progress) (any, error) {
	for {
		select {
		case u, ok := <-s.steps:
			if !ok {
				return s.result, nil
			}
			p.Report(u.Text, u.Value)
			s.acks <- struct{}{}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *stepper) step(t testing.TB, text string, v float64) {
	t.Helper()
	timer := time.NewTimer(e2eTimeout)
	defer timer.Stop()
	select {
	case s.steps <- task.Update{Text: text, Value: v}:
	case <-timer.C:
		t.Fatal("task did not take its step")
	}
	<-s.acks
}

func start(t testing.TB, r *task.Runner, fn task.Func) task.Info {
	t.Helper()
	info, err := r.Start(context.Background(), fn)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return info
}

func wait(t testing.TB, r *task.Runner, id string) task.Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	info, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return info
}

var generations = []int{1, 2}

func TestE2EProgressInOrder(t *testing.T) {
	for _, gen := range generations {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			e := newEnv(t, gen)
			s := newStepper(map[string]string{"file": "report.pdf"})
			info := start(t, e.runner, s.fn)
			st := e.open(t, info.StreamURL)
			st.expect(evStarted)
			for i := 1; i <= 5; i++ {
				text := fmt.Sprintf("step %d", i)
				s.step(t, text, float64(i)/5)
				st.expect(progress(text, float64(i)/5))
			}
			close(s.steps)
			st.expect(`task_completed {"file":"report.pdf"}`, closeCompleted)
			st.expectEOF()
		})
	}
}

func TestE2ELateClient(t *testing.T) {
	for _, gen := range generations {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			e := newEnv(t, gen)
			info := start(t, e.runner, func(_ context.Context, p *task.Progress) (any, error) {
				for i := 1; i <= 50; i++ {
					p.Report(fmt.Sprintf("step %d", i), float64(i)/50)
				}
				return "done", nil
			})
			wait(t, e.runner, info.ID)
			for range 2 { // every late client gets the whole compacted log
				st := e.open(t, info.StreamURL)
				st.expect(evStarted, progress("step 50", 1), `task_completed "done"`, closeCompleted)
				st.expectEOF()
			}
		})
	}
}

func TestE2EReconnectMidTask(t *testing.T) {
	for _, gen := range generations {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			e := newEnv(t, gen)
			s := newStepper(nil)
			info := start(t, e.runner, s.fn)
			first := e.open(t, info.StreamURL)
			first.expect(evStarted)
			s.step(t, "one", 0.1)
			first.expect(progress("one", 0.1))
			s.step(t, "two", 0.2)
			first.expect(progress("two", 0.2))
			first.st.Close()

			second := e.open(t, info.StreamURL)
			second.expect(evStarted, progress("two", 0.2))
			s.step(t, "three", 0.3)
			second.expect(progress("three", 0.3))

			// A third stream replaces the second without it closing first.
			third := e.open(t, info.StreamURL)
			third.expect(evStarted, progress("three", 0.3))
			second.expectEOF() // closed by the replacement
			s.step(t, "four", 0.4)
			close(s.steps)
			third.expect(progress("four", 0.4), `task_completed null`, closeCompleted)
			third.expectEOF()
		})
	}
}

func TestE2EUnknownTask(t *testing.T) {
	for _, gen := range generations {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			e := newEnv(t, gen)
			st := e.open(t, "/api/sse/tasks?task_id=nope")
			st.expect(`task_failed {"error":"task not found","code":"TASK_NOT_FOUND"}`, `connection_close {"reason":"task_not_found"}`)
			st.expectEOF()
		})
	}
}

func TestE2ECancel(t *testing.T) {
	e := newEnv(t, 2)
	s := newStepper(nil)
	info := start(t, e.runner, s.fn)
	st := e.open(t, info.StreamURL)
	st.expect(evStarted)
	if err := e.runner.Cancel(info.ID); err != nil {
		t.Fatal(err)
	}
	st.expect(cancelledAsFailed, `connection_close {"reason":"task_cancelled"}`)
	st.expectEOF()
	if got := wait(t, e.runner, info.ID).Status; got != task.StatusCancelled {
		t.Errorf("status %q, want cancelled", got)
	}
}

func TestE2EPanic(t *testing.T) {
	e := newEnv(t, 1)
	info := start(t, e.runner, func(context.Context, *task.Progress) (any, error) { panic("boom") })
	st := e.open(t, info.StreamURL)
	st.expect(evStarted, `task_failed {"error":"task panicked"}`, `connection_close {"reason":"task_failed"}`)
	st.expectEOF()
	// The runner survives.
	next := start(t, e.runner, func(context.Context, *task.Progress) (any, error) { return 1, nil })
	if got := wait(t, e.runner, next.ID).Status; got != task.StatusCompleted {
		t.Errorf("next task: %q", got)
	}
}

func TestE2EShutdown(t *testing.T) {
	e := newEnv(t, 2, task.WithWorkers(2))
	begun := make(chan struct{}, 2)
	var streams []*stream
	var ids []string
	for range 3 { // two run, one waits in the queue
		info := start(t, e.runner, func(ctx context.Context, p *task.Progress) (any, error) {
			p.Report("working", 0.5)
			begun <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
		ids = append(ids, info.ID)
		streams = append(streams, e.open(t, info.StreamURL))
	}
	<-begun
	<-begun
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	if err := e.runner.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, id := range ids {
		if info, _ := e.runner.Get(id); info.Status != task.StatusCancelled {
			t.Errorf("task %s: %q, want cancelled", id, info.Status)
		}
	}
	for i, st := range streams {
		want := []string{evStarted, progress("working", 0.5), cancelledAsFailed, `connection_close {"reason":"task_cancelled"}`}
		if i == 2 {
			want = want[2:] // never ran
		}
		if diff := cmp.Diff(want, st.all()); diff != "" {
			t.Errorf("stream %d (-want +got):\n%s", i, diff)
		}
	}
	if _, err := e.runner.Start(context.Background(), newStepper(nil).fn); !errors.Is(err, task.ErrShutdown) {
		t.Errorf("Start after Shutdown: %v, want ErrShutdown", err)
	}
	e.close(t)
	for _, st := range streams {
		st.st.Close()
	}
	goleak.VerifyNone(t)
}

func TestE2ERetention(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, 2, task.WithClock(clock), task.WithRetention(time.Minute))
	info := start(t, e.runner, func(context.Context, *task.Progress) (any, error) { return 7, nil })
	wait(t, e.runner, info.ID)
	st := e.open(t, info.StreamURL)
	st.expect(evStarted, `task_completed 7`, closeCompleted)
	st.expectEOF()

	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if _, ok := e.runner.Get(info.ID); ok {
		t.Fatal("task kept after its retention")
	}
	late := e.open(t, info.StreamURL)
	late.expect(`task_failed {"error":"task not found","code":"TASK_NOT_FOUND"}`, `connection_close {"reason":"task_not_found"}`)
	late.expectEOF()
}

func TestE2EPoolBound(t *testing.T) {
	const workers, tasks = 2, 8
	e := newEnv(t, 2, task.WithWorkers(workers))
	var running, peak atomic.Int64
	release := make(chan struct{})
	begun := make(chan struct{}, tasks)
	var streams []*stream
	for i := range tasks {
		info := start(t, e.runner, func(context.Context, *task.Progress) (any, error) {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			begun <- struct{}{}
			<-release
			running.Add(-1)
			return i, nil
		})
		streams = append(streams, e.open(t, info.StreamURL))
	}
	for range tasks {
		<-begun
		release <- struct{}{}
	}
	for i, st := range streams {
		st.expect(evStarted, fmt.Sprintf("task_completed %d", i), closeCompleted)
		st.expectEOF()
	}
	if got := peak.Load(); got > workers || got < 1 {
		t.Errorf("peak concurrency %d, want at most %d", got, workers)
	}
}

// TestE2EStress runs many tasks whose browsers connect, read a little,
// leave or get replaced, and come back at random moments, and checks that
// every browser's final stream is the whole story, in order, once.
func TestE2EStress(t *testing.T) {
	tasks := 200
	if testing.Short() {
		tasks = 40
	}
	// At most browsers tasks are under way at once, each with its browser,
	// as in a real backend whose gateway serializes every send.
	const workers, browsers = 8, 24
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	e := newEnv(t, 2, task.WithWorkers(workers))

	slots := make(chan struct{}, browsers)
	var wg sync.WaitGroup
	for i := range tasks {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			gate := make(chan struct{})
			info, err := e.runner.Start(context.Background(), func(ctx context.Context, p *task.Progress) (any, error) {
				for j := 1; j <= 5; j++ {
					p.Report(fmt.Sprintf("s%02d", j), float64(j)/10)
				}
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				for j := 6; j <= 10; j++ {
					p.Report(fmt.Sprintf("s%02d", j), float64(j)/10)
				}
				return i, nil
			})
			if err != nil {
				t.Errorf("task %d: Start: %v", i, err)
				return
			}
			if err := browse(e, t, info.StreamURL, rng, gate, i); err != nil {
				t.Errorf("task %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// browse plays one browser of the stress test: up to three streams that
// read a few events and are closed or replaced, then a final stream read to
// its end and checked. It opens the task's gate at a random moment.
func browse(e *env, t *testing.T, streamURL string, rng *rand.Rand, gate chan struct{}, i int) error {
	rounds := rng.IntN(4)
	releaseAt := rng.IntN(rounds + 1)
	openGate := sync.OnceFunc(func() { close(gate) })
	defer openGate()
	for round := range rounds {
		if round == releaseAt {
			openGate()
		}
		// Before the gate opens, task_started and one progress_update are
		// sure to come, but no more.
		limit := 2
		if round >= releaseAt {
			limit = 6
		}
		st, err := e.tryOpen(t, streamURL)
		if err != nil {
			return err
		}
		for range rng.IntN(limit + 1) {
			if _, err := st.next(); err != nil {
				break // io.EOF: the task finished
			}
		}
		if rng.IntN(2) == 0 {
			st.st.Close() // otherwise the next connect replaces it
		}
	}
	openGate()
	final, err := e.tryOpen(t, streamURL)
	if err != nil {
		return err
	}
	view, err := final.tryAll()
	if err != nil {
		return err
	}
	return checkFinal(i, view)
}

// checkFinal checks a final view: task_started, progress never decreasing
// and never repeated, task_completed with the task's number, then
// connection_close.
func checkFinal(i int, view []string) error {
	n := len(view)
	if n < 3 || view[0] != evStarted || view[n-2] != fmt.Sprintf("task_completed %d", i) || view[n-1] != closeCompleted {
		return fmt.Errorf("view %q", view)
	}
	last := task.Update{Value: -1}
	for _, line := range view[1 : n-2] {
		data, ok := strings.CutPrefix(line, task.TypeProgress+" ")
		var u task.Update
		if !ok || json.Unmarshal([]byte(data), &u) != nil {
			return fmt.Errorf("unexpected %q in view %q", line, view)
		}
		if u.Value < last.Value || u.Text <= last.Text {
			return fmt.Errorf("%v after %v in view %q", u, last, view)
		}
		last = u
	}
	return nil
}
