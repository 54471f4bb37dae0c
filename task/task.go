package task

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/tab"
)

// The slots of a task's event log. Each holds at most one entry, and the
// entries' sequence numbers increase with the slot index: progress is only
// reported after started and never after the terminal event.
const (
	slotStarted = iota
	slotProgress
	slotTerminal
	slotClose
	numSlots
)

// entry is one event of a task's log.
type entry struct {
	seq   uint64 // 0: empty slot
	ev    sseconn.Event
	close bool // send with close: the last event of a stream
}

// task is one task's state, event log and connection.
//
// The event log is compacted to at most numSlots entries: a new progress
// report replaces the previous one under a new sequence number. The
// connection has a cursor, the sequence number of the last entry delivered
// to it. At most one goroutine at a time, the sender (sending is true),
// moves entries from the log to the connection; whoever appends an entry
// while a connection is registered and nobody is sending becomes the sender
// or starts one. Every change of the log, the cursor and the sender role
// happens under mu, and no I/O happens under mu.
type task struct {
	id         string
	identifier string
	streamURL  string
	fn         Func
	aud        *tab.Audience   // the tabs its events go to (For); nil: its own stream
	ctx        context.Context // cancelled by cancel
	cancel     context.CancelFunc
	done       chan struct{} // closed when the task has finished

	mu              sync.Mutex // guards every field below
	status          Status
	cancelRequested bool
	progress        Update
	result          json.RawMessage
	errText         string
	created         time.Time
	started         time.Time
	finished        time.Time
	seq             uint64 // last sequence number handed out
	log             [numSlots]entry

	// The connection. gen counts connects; a sender works for one
	// generation and stops as soon as gen moves on.
	gen        uint64
	token      string
	registered bool          // token is registered with the Conn
	cursor     uint64        // last seq delivered to token
	sending    bool          // a sender owns the delivery to token
	stalled    bool          // delivery stopped on an error that may pass
	failures   int           // sends failed in a row with such errors
	retryAt    time.Time     // when a stalled delivery may resume (real time)
	idle       chan struct{} // closed when sending drops to false; nil if nobody waits

	// AMQP mode (see replica.go).
	remote     bool      // a follower: its log mirrors the owner's, on another replica
	refs       int       // follower: Connects in progress; guarded by Runner.mu
	heard      time.Time // follower: when the owner last answered, or the lease clock restarted
	hadState   bool      // follower: the owner answered at least once
	misses     int       // follower: requests returned unroutable in a row
	final      bool      // follower: the log was ended here (not found, lost)
	ask        string    // follower: the request of the latest connect, until a state answers it; nothing is sent meanwhile
	asked      time.Time // follower: when ask was set
	publishing bool      // owner: a goroutine publishes the state
	republish  bool      // owner: the state changed while it was being published
	asks       []string  // owner: the requests the next state message answers
}

// infoLocked returns a snapshot of t. t.mu must be held.
func (t *task) infoLocked() Info {
	return Info{
		ID:        t.id,
		StreamURL: t.streamURL,
		Status:    t.status,
		Progress:  t.progress,
		Result:    bytes.Clone(t.result),
		Error:     t.errText,
		Created:   t.created,
		Started:   t.started,
		Finished:  t.finished,
	}
}

// appendLocked stores ev in slot under a new sequence number. t.mu must be
// held.
func (t *task) appendLocked(slot int, ev sseconn.Event) {
	t.seq++
	t.log[slot] = entry{seq: t.seq, ev: ev, close: slot == slotClose}
}

// Error texts of a task_failed event that replaces a terminal event the Conn
// refused.
const (
	errResultTooLarge = "task result too large"
	errEventRefused   = "task event refused"
)

// replaceTerminalLocked replaces the terminal entry seq, which the Conn
// refused as invalid or too large, by a task_failed event with a short
// fixed error text under the same sequence number, and the close entry by
// one with the reason task_failed. A completed task becomes failed with
// errResultTooLarge, so that [Info] tells what the browser saw. It reports
// whether it replaced anything: not for another entry, nor for an entry
// that is already the replacement. t.mu must be held.
func (t *task) replaceTerminalLocked(seq uint64) bool {
	term := &t.log[slotTerminal]
	if term.seq != seq {
		return false
	}
	var m Message
	if json.Unmarshal([]byte(term.ev.Data), &m) == nil && m.EventType == TypeFailed &&
		(t.errText == errResultTooLarge || t.errText == errEventRefused) {
		return false // the replacement itself was refused
	}
	text := errEventRefused
	if t.status == StatusCompleted {
		text = errResultTooLarge
		t.status, t.result = StatusFailed, nil
	}
	t.errText = text
	term.ev = newEvent(TypeFailed, t.id, t.finished, failureData(text, ""))
	cl := &t.log[slotClose]
	cl.ev = newEvent(TypeClose, t.id, t.finished, reasonData(TypeFailed))
	return true
}

// nextLocked returns the first entry not yet delivered to the connection;
// none while a follower waits for the answer to its connect's request.
// t.mu must be held.
func (t *task) nextLocked() (entry, bool) {
	if t.ask != "" {
		return entry{}, false
	}
	for _, e := range t.log {
		if e.seq > t.cursor {
			return e, true
		}
	}
	return entry{}, false
}

// claimLocked makes the caller the sender if there is something to deliver,
// a registered connection and no sender yet. It reports whether it did and
// for which generation. t.mu must be held.
func (t *task) claimLocked() (uint64, bool) {
	if t.sending || !t.registered {
		return 0, false
	}
	if _, ok := t.nextLocked(); !ok {
		return 0, false
	}
	t.sending = true
	return t.gen, true
}

// releaseLocked gives up the sender role and wakes whoever waits for it.
// t.mu must be held.
func (t *task) releaseLocked() {
	t.sending = false
	if t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// idleLocked returns a channel closed once the sender role is free. t.mu
// must be held and t.sending true.
func (t *task) idleLocked() <-chan struct{} {
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	return t.idle
}

// expiredLocked reports whether t finished at least retention before now.
// t.mu must be held.
func (t *task) expiredLocked(now time.Time, retention time.Duration) bool {
	return t.status.Done() && !now.Before(t.finished.Add(retention))
}

// Retries of a stalled delivery: the first after retryBase, each further one
// after twice as long, up to retryMax.
const (
	retryBase = 250 * time.Millisecond
	retryMax  = 30 * time.Second
)

// retryDelay is the wait before resuming a delivery after its nth failure
// in a row.
func retryDelay(n int) time.Duration {
	d := retryBase
	for i := 1; i < n && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// startSender makes a new goroutine the sender for generation gen, which the
// caller has claimed. If the runner no longer starts goroutines, the role is
// released and delivery stalls until the next connect.
func (r *Runner) startSender(t *task, gen uint64) {
	if r.senders.goFunc(func() { _ = r.deliver(r.sendCtx, t, gen) }) {
		return
	}
	t.mu.Lock()
	t.stalled = true
	t.releaseLocked()
	t.mu.Unlock()
}

// deliver sends t's undelivered entries to its connection, in order, as the
// sender for generation gen, and releases the role when nothing is left, the
// generation moved on, or a send failed. It returns the error of a failed
// send.
//
// After ErrNotConnected or ErrGone the connection is forgotten; after an
// error that may pass (a timeout, a 5xx answer) the cursor stays, and
// delivery resumes from the same entry on the next event, the next connect,
// or after a backoff (see [Runner.resume]), whichever comes first. An event
// the Conn refuses as invalid or too large is skipped, since no retry can
// succeed, except the terminal event: it is replaced by a short task_failed
// (see [task.replaceTerminalLocked]), so that the stream still ends with
// exactly one terminal event.
func (r *Runner) deliver(ctx context.Context, t *task, gen uint64) error {
	for {
		t.mu.Lock()
		if t.gen != gen || !t.registered {
			t.releaseLocked()
			t.mu.Unlock()
			return nil
		}
		e, ok := t.nextLocked()
		if !ok {
			t.stalled = false
			t.releaseLocked()
			t.mu.Unlock()
			return nil
		}
		t.mu.Unlock()

		err := r.sendEntry(ctx, t, e)
		if err != nil && permanent(err) {
			r.metrics.sendError(ctx, "invalid")
			t.mu.Lock()
			replaced := t.gen == gen && t.replaceTerminalLocked(e.seq)
			t.mu.Unlock()
			if replaced {
				r.log.Error("task: terminal event refused, sending task_failed instead", "task_id", t.id, "error", err)
				continue
			}
			r.log.Error("task: event refused, skipped", "task_id", t.id, "error", err)
			err = nil
		}

		t.mu.Lock()
		current := t.gen == gen
		if err == nil {
			if current {
				t.cursor = e.seq
				t.failures = 0
			}
			t.mu.Unlock()
			continue
		}
		stalled := false
		switch {
		case errors.Is(err, sseconn.ErrNotConnected), errors.Is(err, sseconn.ErrGone),
			errors.Is(err, sseconn.ErrShutdown):
			if current {
				t.registered = false
			}
			r.metrics.sendError(ctx, "gone")
		default:
			if current {
				t.stalled, stalled = true, true
				t.failures++
				t.retryAt = time.Now().Add(retryDelay(t.failures))
			}
			r.metrics.sendError(ctx, "error")
		}
		t.releaseLocked()
		t.mu.Unlock()
		if stalled {
			r.mu.Lock()
			r.stalled[t] = struct{}{}
			r.mu.Unlock()
		}
		r.log.Debug("task: delivery stopped", "task_id", t.id, "error", err)
		return err
	}
}

// send sends one entry, bounded by the send timeout.
func (r *Runner) send(ctx context.Context, identifier string, e entry) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.sendTimeout)
	defer cancel()
	if e.close {
		return r.conn.SendAndClose(ctx, identifier, e.ev)
	}
	return r.conn.Send(ctx, identifier, e.ev)
}

// permanent reports whether err says the event itself is unacceptable.
func permanent(err error) bool {
	return errors.Is(err, sseconn.ErrInvalidEvent) || errors.Is(err, sseconn.ErrTooLarge)
}
