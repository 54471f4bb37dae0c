package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/internal/errs"
	"github.com/ssegate/ssegate/internal/telemetry"
	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/sseconn"
)

// Conn is what a [Runner] needs from a connection manager: map a task's
// identifier to the gateway token of the browser's stream, and send events
// to that identifier in call order. *sseconn.Manager implements it; a
// transport that reaches the browser another way can too.
//
// Send and SendAndClose report [sseconn.ErrNotConnected] when no stream is
// registered for the identifier and [sseconn.ErrGone] when the gateway no
// longer knows it; [sseconn.ErrInvalidEvent] and [sseconn.ErrTooLarge] when
// the event can never be sent. Unregister must not block.
//
// The runner sends to one identifier from one goroutine at a time, and
// registers a new stream for an identifier only once no send to it is under
// way. It relies on a send that has returned never reaching a stream
// registered after it, which holds for any Conn that resolves the stream
// during the call.
type Conn interface {
	Register(ctx context.Context, identifier, token string) error
	Unregister(token string) bool
	Send(ctx context.Context, identifier string, ev sseconn.Event) error
	SendAndClose(ctx context.Context, identifier string, ev sseconn.Event) error
}

// Func is the work of a task. It runs on a worker of the pool with a context
// that is cancelled by [Runner.Cancel] or [Runner.Shutdown], and reports
// progress through p, which it may use from any goroutine until it returns.
//
// Its result must be JSON-encodable (nil encodes as null): it becomes the
// data of the task_completed event. An error fails the task, or cancels it if
// cancellation was requested; a panic fails it.
type Func func(ctx context.Context, p *Progress) (result any, err error)

// Runner runs tasks on a bounded worker pool and streams their events to the
// browsers that follow them. It implements [callback.Service] for the
// task route; see [Runner.Matcher].
//
// All methods are safe for concurrent use. [Runner.Shutdown] must be called
// to stop its goroutines.
type Runner struct {
	conn    Conn
	cfg     config
	log     *slog.Logger
	metrics *metrics
	tracer  trace.Tracer

	mu      sync.Mutex // guards tasks, stalled, finished, closed, and sends on and the close of queue
	tasks   map[string]*task
	stalled map[*task]struct{} // tasks whose delivery stopped on an error that may pass
	// finished holds the finished tasks, oldest first, for the cap on
	// their number (WithMaxFinished). It may hold tasks already dropped
	// by retention; they are skipped when met.
	finished []*task
	closed   bool
	queue    chan *task // capacity workers+queueSize

	// inflight counts the tasks in the queue or running: at most
	// workers+queueSize, so sends on queue never block. A running task
	// leaves it when it finishes, a task cancelled while queued when a
	// worker takes it off the queue.
	inflight atomic.Int64
	stopping atomic.Bool // Shutdown was called: queued tasks are cancelled, never run

	workers     sync.WaitGroup
	workersDone chan struct{} // closed when every worker has returned
	senders     group         // background senders
	sendCtx     context.Context
	sendCancel  context.CancelFunc
	stopSweep   chan struct{} // closed by Shutdown
	sweepDone   chan struct{} // closed when the sweeper has returned

	hookWait func() // tests: called when Connect waits for an older stream's sender

	// AMQP mode (see replica.go).
	bus       bus.Bus          // nil in HTTP mode
	unsub     func()           // unsubscribes from bus
	followers map[string]*task // tasks of other replicas whose streams this one serves; guarded by mu
	stopPoll  chan struct{}    // closed by Shutdown
	pollNow   chan struct{}    // asks the poller for a poll at once
	pollDone  chan struct{}    // closed when the poller has returned (at once in HTTP mode)
}

// New returns a Runner that sends through conn. It starts the workers and a
// sweeper that drops expired tasks; [Runner.Shutdown] stops them.
//
// It returns an error wrapping [ErrInvalidConfig] for a nil conn or an
// invalid option, every problem reported and joined with [errors.Join].
func New(conn Conn, opts ...Option) (*Runner, error) {
	cfg := defaultConfig()
	if conn == nil {
		cfg.problems.Add(errors.New("nil Conn"))
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	sc := telemetry.New(scope, cfg.meterProvider, cfg.tracerProvider)
	m := newMetrics(sc, cfg.kind)
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("task: create instruments: %w", err)
	}
	r := &Runner{
		conn:        conn,
		cfg:         cfg,
		log:         cfg.logger,
		metrics:     m,
		tracer:      sc.Tracer,
		tasks:       make(map[string]*task),
		stalled:     make(map[*task]struct{}),
		queue:       make(chan *task, cfg.workers+cfg.queueSize),
		workersDone: make(chan struct{}),
		stopSweep:   make(chan struct{}),
		sweepDone:   make(chan struct{}),
		bus:         cfg.bus,
		followers:   make(map[string]*task),
		stopPoll:    make(chan struct{}),
		pollNow:     make(chan struct{}, 1),
		pollDone:    make(chan struct{}),
	}
	r.sendCtx, r.sendCancel = context.WithCancel(context.Background())
	r.workers.Add(cfg.workers)
	for range cfg.workers {
		go r.work()
	}
	go func() {
		r.workers.Wait()
		close(r.workersDone)
	}()
	go r.sweeper(sweepInterval(cfg.retention))
	r.startBus()
	return r, nil
}

// sweepInterval is how often expired tasks are dropped: half the retention,
// between 1 s and 1 min.
func sweepInterval(retention time.Duration) time.Duration {
	return min(max(retention/2, time.Second), time.Minute)
}

// Start queues fn as a new task and returns at once with its id, stream URL
// and status (pending). The task is detached from ctx: ctx's values, such
// as the trace span, reach fn's context, but its cancellation does not.
//
// With [For], the task's events go to browser tabs instead of a stream of
// its own (see [WithTabs]).
//
// It returns [ErrQueueFull] when every worker is busy and the queue is full,
// [ErrShutdown] after [Runner.Shutdown], [ErrNilFunc] for a nil fn,
// [ErrNoTabs] for For on a runner without tabs, and an error wrapping
// tab.ErrInvalidAudience for For with an invalid audience.
func (r *Runner) Start(ctx context.Context, fn Func, opts ...StartOption) (Info, error) {
	if fn == nil {
		return Info{}, ErrNilFunc
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var sc startConfig
	for _, o := range opts {
		if o != nil {
			o.applyStart(&sc)
		}
	}
	if sc.aud != nil {
		if r.cfg.tabs == nil {
			return Info{}, ErrNoTabs
		}
		if err := sc.aud.Validate(); err != nil {
			return Info{}, fmt.Errorf("task: start: %w", err)
		}
	}
	id := uuid.New()
	t := &task{
		id:         id,
		identifier: r.cfg.kind + ":" + id,
		fn:         fn,
		status:     StatusPending,
		created:    r.cfg.now(),
		done:       make(chan struct{}),
	}
	if sc.aud != nil {
		// Delivery to tabs needs no connect: the audience is the
		// connection, from the start.
		t.aud, t.registered = sc.aud, true
	} else {
		t.streamURL = r.cfg.streamURL(id)
	}
	t.ctx, t.cancel = context.WithCancel(context.WithoutCancel(ctx))
	info := t.infoLocked() // nobody else knows t yet

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		t.cancel()
		r.metrics.reject(ctx, "shutdown")
		return Info{}, ErrShutdown
	}
	if !r.reserve() {
		r.mu.Unlock()
		t.cancel()
		r.metrics.reject(ctx, "queue_full")
		return Info{}, ErrQueueFull
	}
	r.queue <- t // never blocks: the queue holds no more than inflight tasks
	r.tasks[id] = t
	r.mu.Unlock()
	r.own(ctx, t)
	r.metrics.accepted(ctx)
	r.log.Debug("task: queued", "task_id", id)
	return info, nil
}

// Get returns a snapshot of the task with the given id, and reports whether
// it is known: false for an unknown id and for a finished task whose
// retention has expired.
func (r *Runner) Get(id string) (Info, bool) {
	t := r.lookup(id)
	if t == nil {
		return Info{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.infoLocked(), true
}

// Wait waits until the task with the given id has finished, and returns its
// final state. It returns [ErrNotFound] for an unknown or expired task, and
// ctx's error if ctx ends first.
func (r *Runner) Wait(ctx context.Context, id string) (Info, error) {
	t := r.lookup(id)
	if t == nil {
		return Info{}, errs.Wrapf("task", ErrNotFound, "wait for task %q", id)
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return Info{}, fmt.Errorf("task: wait for task %q: %w", id, ctx.Err())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.infoLocked(), nil
}

// Cancel requests the cancellation of a task. A pending task is cancelled at
// once and never runs. A running task's context is cancelled; the task ends
// as cancelled when its function returns an error, and as completed when it
// returns a result all the same. Cancelling a finished task does nothing.
//
// It returns [ErrNotFound] for an unknown or expired task.
func (r *Runner) Cancel(id string) error {
	t := r.lookup(id)
	if t == nil {
		if r.bus != nil {
			return r.cancelRemote(id)
		}
		return errs.Wrapf("task", ErrNotFound, "cancel task %q", id)
	}
	r.cancel(t)
	return nil
}

// cancel cancels t; see [Runner.Cancel].
func (r *Runner) cancel(t *task) {
	t.mu.Lock()
	switch t.status {
	case StatusPending:
		r.finishLocked(t, outcome{status: StatusCancelled})
		gen, ok := t.claimLocked()
		t.mu.Unlock()
		r.retire(t)
		t.cancel()
		if ok {
			r.startSender(t, gen)
		}
		r.announce(t)
	case StatusRunning:
		t.cancelRequested = true
		t.mu.Unlock()
		t.cancel()
	default:
		t.mu.Unlock()
	}
}

// Shutdown stops the runner: [Runner.Start] returns [ErrShutdown] from then
// on, pending tasks are cancelled, and running tasks' contexts are
// cancelled. It waits until every task function has returned and the
// resulting events have been sent (or have failed), then stops the
// runner's goroutines.
//
// If ctx ends first, Shutdown stops waiting, abandons pending sends and
// returns ctx's error; a task function that ignores its context then keeps
// its worker until it returns. Shutdown may be called again to wait anew.
// Finished tasks stay readable with [Runner.Get], and browsers that connect
// still get their events.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	var live []*task
	if !r.closed {
		r.closed = true
		r.stopping.Store(true)
		close(r.queue)
		close(r.stopSweep)
		close(r.stopPoll)
		live = make([]*task, 0, len(r.tasks))
		for _, t := range r.tasks {
			live = append(live, t)
		}
	}
	r.mu.Unlock()
	for _, t := range live {
		r.cancel(t)
	}

	select {
	case <-r.workersDone:
	case <-ctx.Done():
		r.abandonSends()
		r.stopBus(ctx)
		return fmt.Errorf("task: shutdown: waiting for tasks: %w", ctx.Err())
	}
	<-r.sweepDone
	<-r.pollDone
	if err := r.senders.wait(ctx); err != nil {
		r.abandonSends()
		r.stopBus(ctx)
		return fmt.Errorf("task: shutdown: waiting for sends: %w", err)
	}
	r.abandonSends()
	r.stopBus(ctx)
	return nil
}

// abandonSends stops starting background senders and cancels those running.
func (r *Runner) abandonSends() {
	r.senders.stop()
	r.sendCancel()
}

// reserve counts a new task in inflight, and reports whether there was room.
func (r *Runner) reserve() bool {
	limit := int64(r.cfg.workers + r.cfg.queueSize)
	for {
		n := r.inflight.Load()
		if n >= limit {
			return false
		}
		if r.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// work is one worker of the pool.
func (r *Runner) work() {
	defer r.workers.Done()
	for t := range r.queue {
		r.run(t)
	}
}

// outcome is how a task ended.
type outcome struct {
	status  Status
	result  json.RawMessage // completed
	errText string          // failed
}

// run runs one task from the queue.
func (r *Runner) run(t *task) {
	defer t.cancel()
	t.mu.Lock()
	if t.status != StatusPending { // cancelled while queued
		r.inflight.Add(-1)
		t.mu.Unlock()
		return
	}
	if r.stopping.Load() { // Shutdown is cancelling it
		r.inflight.Add(-1)
		r.finishLocked(t, outcome{status: StatusCancelled})
		gen, ok := t.claimLocked()
		t.mu.Unlock()
		r.retire(t)
		if ok {
			r.startSender(t, gen)
		}
		r.announce(t)
		return
	}
	t.status = StatusRunning
	t.started = r.cfg.now()
	t.appendLocked(slotStarted, newEvent(TypeStarted, t.id, t.started, emptyObject))
	gen, ok := t.claimLocked()
	t.mu.Unlock()
	if ok {
		r.startSender(t, gen)
	}
	r.announce(t)
	r.metrics.started(t.ctx)
	r.log.Debug("task: started", "task_id", t.id)

	ctx, span := r.tracer.Start(t.ctx, "task.run",
		trace.WithAttributes(attribute.String("task.id", t.id)))
	oc := r.call(ctx, t)
	span.SetAttributes(attribute.String("task.status", string(oc.status)))
	if oc.status == StatusFailed {
		span.SetStatus(codes.Error, oc.errText)
	}
	span.End()

	t.mu.Lock()
	r.inflight.Add(-1) // before Wait returns, so that a Start after Wait finds room
	r.finishLocked(t, oc)
	gen, ok = t.claimLocked()
	t.mu.Unlock()
	r.retire(t)
	if ok {
		r.startSender(t, gen)
	}
	r.announce(t)
	r.log.Debug("task: finished", "task_id", t.id, "status", oc.status)
}

// call runs t's function and encodes its result, turning a panic into a
// failure.
func (r *Runner) call(ctx context.Context, t *task) (oc outcome) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("task: panic", "task_id", t.id, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			oc = outcome{status: StatusFailed, errText: "task panicked"}
		}
	}()
	result, err := t.fn(ctx, &Progress{r: r, t: t})
	if err != nil {
		if t.ctx.Err() != nil { // only Cancel and Shutdown cancel t.ctx
			return outcome{status: StatusCancelled}
		}
		return outcome{status: StatusFailed, errText: r.cfg.errorMessage(err)}
	}
	data, err := json.Marshal(result)
	if err != nil {
		r.log.Warn("task: result is not JSON-encodable", "task_id", t.id, "error", err)
		return outcome{status: StatusFailed, errText: "task result is not JSON-encodable"}
	}
	if len(data) > r.cfg.maxResultBytes {
		r.log.Warn("task: result too large", "task_id", t.id, "bytes", len(data))
		return outcome{status: StatusFailed, errText: "task result too large"}
	}
	return outcome{status: StatusCompleted, result: data}
}

// finishLocked ends t with oc and appends its terminal and close events.
// t.mu must be held and t must not be done.
func (r *Runner) finishLocked(t *task, oc outcome) {
	now := r.cfg.now()
	oc.errText = capError(oc.errText)
	t.status = oc.status
	t.finished = now
	t.result = oc.result
	t.errText = oc.errText
	// typ and data make the terminal event; reason, the close event's
	// reason, says what happened even when typ does not.
	var typ, reason string
	var data []byte
	switch oc.status {
	case StatusCompleted:
		typ, reason, data = TypeCompleted, TypeCompleted, oc.result
	case StatusFailed:
		typ, reason, data = TypeFailed, TypeFailed, failureData(oc.errText, "")
	case StatusCancelled:
		typ, reason, data = TypeFailed, TypeCancelled, failureData("task cancelled", CodeCancelled)
		if r.cfg.cancelledEvent {
			typ, data = TypeCancelled, emptyObject
		}
	}
	t.appendLocked(slotTerminal, newEvent(typ, t.id, now, data))
	t.appendLocked(slotClose, newEvent(TypeClose, t.id, now, reasonData(reason)))
	r.metrics.finished(t.ctx, oc.status)
}

// lookup returns the task with the given id, or nil if it is unknown or
// expired. An expired task is dropped.
func (r *Runner) lookup(id string) *task {
	now := r.cfg.now()
	r.mu.Lock()
	t := r.tasks[id]
	if t == nil {
		r.mu.Unlock()
		return nil
	}
	t.mu.Lock()
	expired, token := r.expireLocked(t, now)
	t.mu.Unlock()
	r.mu.Unlock()
	if !expired {
		return t
	}
	if token != "" {
		r.conn.Unregister(token)
	}
	return nil
}

// expireLocked drops t if it has expired, and then returns the token still
// registered for it, if any. r.mu and t.mu must be held.
func (r *Runner) expireLocked(t *task, now time.Time) (expired bool, token string) {
	if !t.expiredLocked(now, r.cfg.retention) {
		return false, ""
	}
	delete(r.tasks, t.id)
	delete(r.stalled, t)
	r.disown(t.id)
	if t.registered {
		token = t.token
		t.registered = false
	}
	return true, token
}

// retire records that t has finished and drops the oldest finished tasks
// beyond the cap (WithMaxFinished), unregistering their streams, then
// releases the callers of Wait. It is called once, after finishLocked.
// Neither r.mu nor t.mu may be held.
func (r *Runner) retire(t *task) {
	var tokens []string
	r.mu.Lock()
	r.finished = append(r.finished, t)
	for len(r.finished) > r.cfg.maxFinished {
		old := r.finished[0]
		r.finished[0] = nil
		r.finished = r.finished[1:]
		if r.tasks[old.id] != old {
			continue // already dropped by retention
		}
		delete(r.tasks, old.id)
		delete(r.stalled, old)
		old.mu.Lock()
		if old.registered && old.token != "" {
			tokens = append(tokens, old.token)
			old.registered = false
		}
		old.mu.Unlock()
		r.log.Debug("task: dropped, over the cap on finished tasks", "task_id", old.id)
	}
	if cap(r.finished) > 2*r.cfg.maxFinished+64 {
		r.finished = append([]*task(nil), r.finished...) // release the consumed front
	}
	r.mu.Unlock()
	for _, token := range tokens {
		r.conn.Unregister(token)
	}
	// Wait returns from here on: the task is finished and counted among
	// the finished ones, so tasks that Wait saw end one after the other
	// are dropped over the cap in that order.
	close(t.done)
}

// resumeInterval is how often stalled deliveries are checked for a retry.
const resumeInterval = retryBase

// sweeper drops expired tasks every interval and resumes stalled deliveries
// every resumeInterval, until Shutdown.
func (r *Runner) sweeper(interval time.Duration) {
	defer close(r.sweepDone)
	sweep := time.NewTicker(interval)
	defer sweep.Stop()
	resume := time.NewTicker(r.cfg.resumeEvery)
	defer resume.Stop()
	for {
		select {
		case <-sweep.C:
			r.sweep()
		case now := <-resume.C:
			r.resume(now)
		case <-r.stopSweep:
			return
		}
	}
}

// sweep drops every expired task, unregistering its stream if it still has
// one.
func (r *Runner) sweep() {
	var (
		tokens []string
		now    = r.cfg.now()
	)
	r.mu.Lock()
	for _, t := range r.tasks {
		t.mu.Lock()
		if expired, token := r.expireLocked(t, now); expired && token != "" {
			tokens = append(tokens, token)
		}
		t.mu.Unlock()
	}
	kept := r.finished[:0]
	for _, t := range r.finished {
		if r.tasks[t.id] == t {
			kept = append(kept, t)
		}
	}
	clear(r.finished[len(kept):])
	r.finished = kept
	r.mu.Unlock()
	for _, token := range tokens {
		r.conn.Unregister(token)
	}
}

// resume restarts the deliveries that stalled on an error that may have
// passed and whose backoff ended by now (real time).
func (r *Runner) resume(now time.Time) {
	type claim struct {
		t   *task
		gen uint64
	}
	var claims []claim
	r.mu.Lock()
	for t := range r.stalled {
		t.mu.Lock()
		switch {
		case !t.stalled: // resumed by an event or a connect
			delete(r.stalled, t)
		case now.Before(t.retryAt):
		default:
			delete(r.stalled, t)
			if gen, ok := t.claimLocked(); ok {
				claims = append(claims, claim{t, gen})
			}
		}
		t.mu.Unlock()
	}
	r.mu.Unlock()
	for _, c := range claims {
		r.startSender(c.t, c.gen)
	}
}
