package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/errs"
	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/sseconn"
)

// AMQP mode: the replica that runs a task (its owner) and the replicas that
// serve its browser streams (followers) talk through a bus.Bus.
// docs/scale-out.md describes the flows.

// Message types on the bus.
const (
	msgState  = "state"  // owner to followers: the whole compacted log; follower to owner: publish it
	msgCancel = "cancel" // to the owner: cancel the task
)

// lostError is the error of the task_failed event a follower sends when the
// owner of its task stopped answering.
const lostError = "task lost: its replica stopped"

// CodeTaskLost is the "code" in the data of the task_failed event that a
// replica sends in AMQP mode when the replica running the task stopped
// answering (see [WithLease]).
const CodeTaskLost = "TASK_LOST"

// message is a message on the bus.
type message struct {
	Type    string       `json:"type"`
	Task    string       `json:"task"`
	Entries []stateEntry `json:"entries,omitempty"`
	// Ask names a follower's request for the state: the latest connect it
	// serves. Answers lists the asks that a state message answers: it was
	// built after the owner received them.
	Ask     string   `json:"ask,omitempty"`
	Answers []string `json:"answers,omitempty"`
}

// maxAsks caps the asks an owner keeps for its next state message; the
// oldest is dropped (its follower asks again at its next poll).
const maxAsks = 64

// stateEntry is one entry of the compacted log in a state message.
type stateEntry struct {
	Slot int    `json:"slot"`
	Seq  uint64 `json:"seq"`
	Name string `json:"name,omitempty"`
	Data string `json:"data"`
}

func ownerKey(id string) string { return "task." + id + ".owner" }
func stateKey(id string) string { return "task." + id + ".state" }

// parseKey returns the task id and the last word of a bus key of ours.
func parseKey(key string) (id, kind string, ok bool) {
	rest, ok := strings.CutPrefix(key, "task.")
	if !ok {
		return "", "", false
	}
	id, kind, ok = strings.Cut(rest, ".")
	return id, kind, ok && id != "" && !strings.Contains(kind, ".")
}

func mustMarshal(m message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("task: cannot encode a bus message: %v", err))
	}
	return b
}

// stateLocked returns t's log as a state message that answers the asks
// received since the last one, and forgets them. t.mu must be held.
func (t *task) stateLocked() []byte {
	m := message{Type: msgState, Task: t.id, Answers: t.asks}
	t.asks = nil
	for slot, e := range t.log {
		if e.seq != 0 {
			m.Entries = append(m.Entries, stateEntry{Slot: slot, Seq: e.seq, Name: e.ev.Name, Data: e.ev.Data})
		}
	}
	return mustMarshal(m)
}

// startBus subscribes the runner to its bus and starts the poller.
func (r *Runner) startBus() {
	if r.bus == nil {
		close(r.pollDone)
		return
	}
	r.unsub = r.bus.Subscribe(busHandler{r})
	go r.poller()
}

// stopBus stops the poller, unsubscribes and unbinds every key.
func (r *Runner) stopBus(ctx context.Context) {
	<-r.pollDone
	if r.bus == nil {
		return
	}
	r.unsub()
	r.mu.Lock()
	var keys []string
	for id := range r.tasks {
		keys = append(keys, ownerKey(id))
	}
	for id := range r.followers {
		keys = append(keys, stateKey(id))
	}
	clear(r.followers)
	r.mu.Unlock()
	for _, k := range keys {
		_ = r.bus.Unbind(ctx, k)
	}
}

// own binds the owner key of t, so that followers find it.
func (r *Runner) own(ctx context.Context, t *task) {
	if r.bus == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.sendTimeout)
	defer cancel()
	if err := r.bus.Bind(ctx, ownerKey(t.id)); err != nil {
		// The bus restores the binding when it reconnects.
		r.log.Warn("task: bind owner key", "task_id", t.id, "error", err)
	}
}

// disown unbinds the owner key of an expired task, in the background.
func (r *Runner) disown(id string) {
	if r.bus == nil {
		return
	}
	r.senders.goFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.sendTimeout)
		defer cancel()
		if err := r.bus.Unbind(ctx, ownerKey(id)); err != nil {
			r.log.Debug("task: unbind owner key", "task_id", id, "error", err)
		}
	})
}

// announce publishes t's state to its followers, in the background, once
// more if it changes meanwhile. Best effort: a state that is not published
// is recovered by the followers' next poll.
func (r *Runner) announce(t *task) {
	if r.bus == nil || t.remote || t.aud != nil {
		return
	}
	t.mu.Lock()
	if t.publishing {
		t.republish = true
		t.mu.Unlock()
		return
	}
	t.publishing = true
	t.mu.Unlock()
	started := r.senders.goFunc(func() {
		for {
			t.mu.Lock()
			body := t.stateLocked()
			t.republish = false
			t.mu.Unlock()
			ctx, cancel := context.WithTimeout(r.sendCtx, r.cfg.sendTimeout)
			if err := r.bus.Publish(ctx, stateKey(t.id), body); err != nil {
				r.log.Debug("task: publish state", "task_id", t.id, "error", err)
			}
			cancel()
			t.mu.Lock()
			if !t.republish {
				t.publishing = false
				t.mu.Unlock()
				return
			}
			t.mu.Unlock()
		}
	})
	if !started {
		t.mu.Lock()
		t.publishing = false
		t.mu.Unlock()
	}
}

// busHandler receives the runner's bus messages.
type busHandler struct{ r *Runner }

// Deliver implements bus.Handler.
func (h busHandler) Deliver(key string, body []byte) {
	r := h.r
	id, kind, ok := parseKey(key)
	if !ok {
		return
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		r.log.Debug("task: unreadable bus message", "error", err)
		return
	}
	switch kind {
	case "owner":
		r.mu.Lock()
		t := r.tasks[id]
		r.mu.Unlock()
		if t == nil {
			return
		}
		switch m.Type {
		case msgState:
			if t.aud != nil { // its events go to its tabs only
				r.announceNotFound(t.id)
				return
			}
			if m.Ask != "" {
				t.mu.Lock()
				if len(t.asks) == maxAsks {
					t.asks = t.asks[1:]
				}
				t.asks = append(t.asks, m.Ask)
				t.mu.Unlock()
			}
			r.announce(t)
		case msgCancel:
			r.cancel(t)
		}
	case "state":
		if m.Type != msgState || m.Task != id {
			return
		}
		r.mu.Lock()
		f := r.followers[id]
		r.mu.Unlock()
		if f != nil {
			r.merge(f, m.Entries, m.Answers)
		}
	}
}

// Reconnected implements bus.Handler: it restarts the lease clocks and asks
// for the state of every followed task.
func (h busHandler) Reconnected() {
	r := h.r
	now := time.Now()
	r.mu.Lock()
	for _, f := range r.followers {
		f.mu.Lock()
		f.heard, f.misses = now, 0
		f.mu.Unlock()
	}
	r.mu.Unlock()
	select {
	case r.pollNow <- struct{}{}:
	default:
	}
}

// merge takes the entries of an owner's state into follower f's log and
// sends what is new, unless f still waits for the answer to its latest
// connect's request: answers lists the asks this state answers.
func (r *Runner) merge(f *task, entries []stateEntry, answers []string) {
	f.mu.Lock()
	f.heard, f.misses, f.hadState = time.Now(), 0, true
	if f.final {
		f.mu.Unlock()
		return
	}
	for _, e := range entries {
		if e.Slot < 0 || e.Slot >= numSlots || e.Seq <= f.log[e.Slot].seq {
			continue
		}
		f.log[e.Slot] = entry{seq: e.Seq, ev: sseconn.Event{Name: e.Name, Data: e.Data}, close: e.Slot == slotClose}
		f.seq = max(f.seq, e.Seq)
	}
	if f.ask != "" && (f.log[slotClose].seq != 0 || slices.Contains(answers, f.ask)) {
		f.ask = "" // an answer, or a closed log: final and complete
	}
	gen, ok := f.claimLocked()
	f.mu.Unlock()
	if ok {
		r.startSender(f, gen)
	}
}

// connectRemote serves the stream of a task this replica does not hold: it
// follows the task through the bus and forwards its state to the stream.
func (r *Runner) connectRemote(ctx context.Context, req *callback.Request, id string) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return errs.Wrapf("task", ErrShutdown, "connect to task %s", id)
	}
	f := r.followers[id]
	fresh := f == nil
	if fresh {
		f = &task{
			id:         id,
			identifier: req.Identifier,
			remote:     true,
			heard:      time.Now(),
			done:       make(chan struct{}),
		}
		r.followers[id] = f
	}
	f.refs++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		f.refs--
		r.mu.Unlock()
	}()
	f.mu.Lock()
	if f.log[slotClose].seq == 0 && !f.final {
		// What this replica last heard, and state messages still on
		// their way to it, may be older than what the browser saw
		// through another replica: send nothing until the owner answers
		// the request below (or a later poll), so that the stream
		// starts from a state at least as new and progress never goes
		// backwards. A closed log is final and complete.
		f.log = [numSlots]entry{}
		f.ask, f.asked = uuid.New(), time.Now()
	}
	f.mu.Unlock()

	if fresh {
		bctx, cancel := context.WithTimeout(ctx, r.cfg.sendTimeout)
		err := r.bus.Bind(bctx, stateKey(id))
		cancel()
		if err != nil {
			// Restored on reconnect; the lease clock waits for it.
			r.log.Warn("task: bind state key", "task_id", id, "error", err)
		}
	}
	if err := r.attach(ctx, f, id, req); err != nil {
		return err
	}
	r.request(ctx, f)
	return nil
}

// request asks the owner of follower f for its state.
func (r *Runner) request(ctx context.Context, f *task) {
	f.mu.Lock()
	body := mustMarshal(message{Type: msgState, Task: f.id, Ask: f.ask})
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.sendTimeout)
	defer cancel()
	err := r.bus.Request(ctx, ownerKey(f.id), body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil:
	case errors.Is(err, bus.ErrNoRoute):
		f.misses++
	case errors.Is(err, bus.ErrNotConnected):
		f.heard = time.Now() // the lease clock runs only while connected
	default:
		r.log.Debug("task: request state", "task_id", f.id, "error", err)
	}
}

// poller polls the owners of followed tasks every lease interval, ends the
// streams of tasks whose owner is gone, and drops followers whose streams
// are over.
func (r *Runner) poller() {
	defer close(r.pollDone)
	tick := time.NewTicker(r.cfg.leaseInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.stopPoll:
			return
		case <-tick.C:
		case <-r.pollNow:
		}
		r.poll()
	}
}

func (r *Runner) poll() {
	r.mu.Lock()
	var live []*task
	var drop []string
	for id, f := range r.followers {
		f.mu.Lock()
		over := !f.sending && f.refs == 0 &&
			(!f.registered || (f.log[slotClose].seq != 0 && f.cursor >= f.log[slotClose].seq))
		closed := f.log[slotClose].seq != 0
		f.mu.Unlock()
		switch {
		case over:
			delete(r.followers, id)
			drop = append(drop, id)
		case !closed:
			live = append(live, f)
		}
	}
	r.mu.Unlock()
	for _, id := range drop {
		r.disownFollower(id)
	}
	for _, f := range live {
		r.request(r.sendCtx, f)
		r.checkLease(f)
	}
}

// disownFollower unbinds the state key of a dropped follower.
func (r *Runner) disownFollower(id string) {
	ctx, cancel := context.WithTimeout(r.sendCtx, r.cfg.sendTimeout)
	defer cancel()
	if err := r.bus.Unbind(ctx, stateKey(id)); err != nil {
		r.log.Debug("task: unbind state key", "task_id", id, "error", err)
	}
}

// checkLease ends follower f's log when its owner is gone: "not found" if it
// never answered, "lost" if it stopped answering.
func (r *Runner) checkLease(f *task) {
	now := time.Now()
	f.mu.Lock()
	if f.final || f.log[slotClose].seq != 0 {
		f.mu.Unlock()
		return
	}
	silent := now.Sub(f.heard) > r.cfg.leaseTimeout
	ts := r.cfg.now()
	switch {
	case f.ask != "" && f.hadState && !silent && now.Sub(f.asked) > r.cfg.leaseTimeout:
		// The owner answers but never this connect's ask (a replica of
		// an older version): send what it has rather than nothing.
		f.ask = ""
		r.log.Warn("task: owner of followed task does not answer the connect's request; sending its latest state", "task_id", f.id)
	case !f.hadState && (f.misses >= 2 || silent):
		f.final, f.ask = true, ""
		f.log[slotTerminal] = entry{seq: f.seq + 1, ev: newEvent(TypeFailed, f.id, ts, failureData("task not found", CodeNotFound))}
		f.log[slotClose] = entry{seq: f.seq + 2, ev: newEvent(TypeClose, f.id, ts, reasonData(ReasonNotFound)), close: true}
		f.seq += 2
		r.log.Debug("task: followed task not found", "task_id", f.id)
	case f.hadState && silent:
		f.final, f.ask = true, ""
		f.log[slotTerminal] = entry{seq: f.seq + 1, ev: newEvent(TypeFailed, f.id, ts, failureData(lostError, CodeTaskLost))}
		f.log[slotClose] = entry{seq: f.seq + 2, ev: newEvent(TypeClose, f.id, ts, reasonData(TypeFailed)), close: true}
		f.seq += 2
		r.log.Warn("task: owner of followed task stopped answering", "task_id", f.id)
	default:
		f.mu.Unlock()
		return
	}
	gen, ok := f.claimLocked()
	f.mu.Unlock()
	if ok {
		r.startSender(f, gen)
	}
}

// cancelRemote asks the owner of task id to cancel it.
func (r *Runner) cancelRemote(id string) error {
	ctx, cancel := context.WithTimeout(r.sendCtx, r.cfg.sendTimeout)
	defer cancel()
	err := r.bus.Request(ctx, ownerKey(id), mustMarshal(message{Type: msgCancel, Task: id}))
	switch {
	case errors.Is(err, bus.ErrNoRoute):
		return errs.Wrapf("task", ErrNotFound, "cancel task %q", id)
	case err != nil:
		return errs.Wrapf("task", err, "cancel task %q on its replica", id)
	}
	return nil
}

// announceNotFound answers a follower of task id, whose events go to tabs
// only, with the log of an unknown task, in the background.
func (r *Runner) announceNotFound(id string) {
	now := r.cfg.now()
	body := mustMarshal(message{Type: msgState, Task: id, Entries: []stateEntry{
		{Slot: slotTerminal, Seq: 1, Name: EventName, Data: newEvent(TypeFailed, id, now, failureData("task not found", CodeNotFound)).Data},
		{Slot: slotClose, Seq: 2, Name: EventName, Data: newEvent(TypeClose, id, now, reasonData(ReasonNotFound)).Data},
	}})
	r.senders.goFunc(func() {
		ctx, cancel := context.WithTimeout(r.sendCtx, r.cfg.sendTimeout)
		defer cancel()
		if err := r.bus.Publish(ctx, stateKey(id), body); err != nil {
			r.log.Debug("task: publish state", "task_id", id, "error", err)
		}
	})
}
