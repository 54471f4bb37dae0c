package frontendtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/ssegate/ssegate/internal/uuid"
)

// DefaultStreamPath is the path of the generation-2 tab stream.
const DefaultStreamPath = "/api/sse/stream"

// Worker is the generation-2 tab worker (ElectronicsInventory UI, 2026):
// one long-lived EventSource per tab at DefaultStreamPath?request_id=<tab>.
// Its fields are set before [Worker.Start] and not changed after.
type Worker struct {
	// Dial opens streams. Required.
	Dial Dialer
	// RequestID is the tab's request id, kept across reconnects. Empty
	// means a random one, chosen by Start.
	RequestID string
	// Path is the stream's path; empty means DefaultStreamPath.
	Path string
	// Delays are the worker's waits; only WorkerBackoff and
	// WorkerBackoffMax apply. See [Delays].
	Delays Delays

	mu      sync.Mutex // guards state, changed, cancel and done
	state   WorkerState
	changed chan struct{} // closed and replaced whenever state changes
	cancel  context.CancelFunc
	done    chan struct{} // closed when the worker's goroutine has returned
}

// WorkerState is what the worker has done and received so far.
type WorkerState struct {
	// RequestID is the tab's request id.
	RequestID string
	// Connects counts connects, Opens those answered with a stream (when
	// onopen fires and the backoff is reset).
	Connects, Opens int
	// Answers lists each connect's answer: "200", another status, or "no
	// answer".
	Answers []string
	// Waits lists the backoff before each reconnect.
	Waits []time.Duration
	// Messages lists every onmessage envelope, in order.
	Messages []Envelope
	// Closed reports whether a named connection_close arrived: the worker
	// then closed its stream for good.
	Closed bool
}

// Versions returns the payloads of the "version" messages, in order.
func (s WorkerState) Versions() []json.RawMessage {
	var out []json.RawMessage
	for _, m := range s.Messages {
		if m.Type == "version" {
			out = append(out, m.Payload)
		}
	}
	return out
}

// Task returns the task_event messages of one task, in order: the
// page's filter by task_id. Messages that do not parse are skipped.
func (s WorkerState) Task(taskID string) []TaskMessage {
	var out []TaskMessage
	for _, m := range s.Messages {
		if m.Type != "task_event" {
			continue
		}
		if tm, ok := taskMessage(m.Payload); ok && tm.TaskID == taskID {
			out = append(out, tm)
		}
	}
	return out
}

// clone returns a copy of s that shares nothing with it.
func (s WorkerState) clone() WorkerState {
	s.Answers = slices.Clone(s.Answers)
	s.Waits = slices.Clone(s.Waits)
	s.Messages = slices.Clone(s.Messages)
	return s
}

// Start runs the worker on a goroutine of its own until [Worker.Stop], ctx
// ends, or a named connection_close arrives. It returns an error for a nil
// Dial or a second Start.
func (w *Worker) Start(ctx context.Context) error {
	if w.Dial == nil {
		return errors.New("frontendtest: Worker.Dial is nil")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done != nil {
		return errors.New("frontendtest: Worker started twice")
	}
	if w.RequestID == "" {
		w.RequestID = uuid.New()
	}
	w.state.RequestID = w.RequestID
	if w.changed == nil {
		w.changed = make(chan struct{})
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.done = make(chan struct{})
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
	return nil
}

// Stop ends the worker, as a tab that goes away, and waits for its
// goroutine. It may be called more than once, and before Start.
func (w *Worker) Stop() {
	w.mu.Lock()
	cancel, done := w.cancel, w.done
	w.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// State returns a snapshot of the worker's state.
func (w *Worker) State() WorkerState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.clone()
}

// Wait waits until cond holds for the worker's state, and returns that
// state; or returns the last state and ctx.Err() when ctx ends first.
// cond must not call the Worker's methods.
func (w *Worker) Wait(ctx context.Context, cond func(WorkerState) bool) (WorkerState, error) {
	for {
		w.mu.Lock()
		s := w.state.clone()
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		changed := w.changed
		w.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return s, ctx.Err()
		}
	}
}

// update changes the state under the lock and wakes the waiters.
func (w *Worker) update(f func(*WorkerState)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(&w.state)
	close(w.changed)
	w.changed = make(chan struct{})
}

// path returns the stream's path and query.
func (w *Worker) path() string {
	p := w.Path
	if p == "" {
		p = DefaultStreamPath
	}
	return p + "?" + url.Values{"request_id": {w.RequestID}}.Encode()
}

// run is the worker's loop: connect, read, and after an error reconnect
// with backoff (the real worker's scheduleReconnect; onopen resets it).
func (w *Worker) run(ctx context.Context) {
	d := w.Delays.resolve()
	retries := 0
	for {
		status, st, err := w.Dial(ctx, w.path())
		if ctx.Err() != nil {
			if st != nil {
				st.Close()
			}
			return
		}
		w.update(func(s *WorkerState) {
			s.Connects++
			s.Answers = append(s.Answers, answer(status, err))
		})
		if st != nil {
			retries = 0
			w.update(func(s *WorkerState) { s.Opens++ })
			closed := w.read(ctx, st)
			st.Close()
			if closed || ctx.Err() != nil {
				return
			}
		}
		retries++
		delay := d.WorkerBackoff
		for i := 1; i < retries && delay < d.WorkerBackoffMax; i++ {
			delay *= 2
		}
		delay = min(delay, d.WorkerBackoffMax)
		w.update(func(s *WorkerState) { s.Waits = append(s.Waits, delay) })
		if wait(ctx, delay) != nil {
			return
		}
	}
}

// read reads st until it ends, and reports whether a named
// connection_close closed it.
func (w *Worker) read(ctx context.Context, st Stream) bool {
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			return false
		}
		if ev.Name == "connection_close" {
			w.update(func(s *WorkerState) { s.Closed = true })
			return true
		}
		if env, ok := envelope(ev); ok {
			w.update(func(s *WorkerState) { s.Messages = append(s.Messages, env) })
		}
	}
}
