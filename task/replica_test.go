package task

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/bus"
)

// fakeBus is an in-memory bus.Bus for one runner: the test plays the other
// replicas. It records what the runner requests and publishes; onRequest,
// when set, runs (outside the lock) on every request, as an owner would.
type fakeBus struct {
	mu        sync.Mutex
	h         bus.Handler
	requests  []message
	published []message
	changed   chan struct{} // closed and replaced on every request or publish
	onRequest func(m message)
}

func newFakeBus() *fakeBus { return &fakeBus{changed: make(chan struct{})} }

func (b *fakeBus) Subscribe(h bus.Handler) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.h = h
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.h = nil
	}
}

func (b *fakeBus) Bind(context.Context, string) error   { return nil }
func (b *fakeBus) Unbind(context.Context, string) error { return nil }

func (b *fakeBus) Publish(_ context.Context, _ string, body []byte) error {
	b.record(&b.published, body)
	return nil
}

func (b *fakeBus) Request(_ context.Context, _ string, body []byte) error {
	m := b.record(&b.requests, body)
	b.mu.Lock()
	f := b.onRequest
	b.mu.Unlock()
	if f != nil {
		f(m)
	}
	return nil
}

func (b *fakeBus) record(to *[]message, body []byte) message {
	var m message
	_ = json.Unmarshal(body, &m)
	b.mu.Lock()
	defer b.mu.Unlock()
	*to = append(*to, m)
	close(b.changed)
	b.changed = make(chan struct{})
	return m
}

// deliver hands the runner a message on key, as the bus's delivery
// goroutine does.
func (b *fakeBus) deliver(key string, m message) {
	body, _ := json.Marshal(m)
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	h.Deliver(key, body)
}

// lastRequest returns the latest request.
func (b *fakeBus) lastRequest(t testing.TB) message {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 {
		t.Fatal("no request on the bus")
	}
	return b.requests[len(b.requests)-1]
}

// waitPublished waits until a published message satisfies ok.
func (b *fakeBus) waitPublished(t testing.TB, what string, ok func(message) bool) message {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		b.mu.Lock()
		for _, m := range b.published {
			if ok(m) {
				b.mu.Unlock()
				return m
			}
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

const followedID = "01234567-89ab-4cde-8f01-23456789abcd"

var followedURL = "/api/sse/tasks?task_id=" + followedID

// ownerState is the state message of an owner whose log holds started
// (seq 1) and the progress text under seq, answering answers.
func ownerState(text string, seq uint64, answers ...string) message {
	ts := time.Unix(0, 0)
	return message{Type: msgState, Task: followedID, Answers: answers, Entries: []stateEntry{
		{Slot: slotStarted, Seq: 1, Name: EventName, Data: newEvent(TypeStarted, followedID, ts, emptyObject).Data},
		{Slot: slotProgress, Seq: seq, Name: EventName, Data: progressEvent(followedID, ts, Update{Text: text, Value: float64(seq) / 10}).Data},
	}}
}

func progressSummary(text string, seq uint64) string {
	d, _ := json.Marshal(Update{Text: text, Value: float64(seq) / 10})
	return "progress_update " + string(d)
}

// A follower reconnected mid-task sends nothing until the owner answers the
// request of that connect: a state still on its way from before (older than
// what the browser saw through another replica) is not replayed first.
func TestFollowerWaitsForTheAnswerToItsConnect(t *testing.T) {
	conn, b := newFakeConn(), newFakeBus()
	r := newTestRunner(t, conn, WithBus(b), WithLease(time.Hour, time.Hour)) // no polls
	stateKey := stateKey(followedID)

	connect(t, r, followedURL, "tok-1")
	ask1 := b.lastRequest(t).Ask
	if ask1 == "" {
		t.Fatal("the connect's request carries no ask")
	}
	b.deliver(stateKey, ownerState("a", 2)) // an announcement, no answer
	b.deliver(stateKey, ownerState("a", 2, ask1))
	if diff := cmp.Diff([]string{"task_started {}", progressSummary("a", 2)},
		summary(t, conn.WaitCount(t, "tok-1", 2))); diff != "" {
		t.Fatalf("first stream (-want +got):\n%s", diff)
	}
	disconnect(t, r, followedURL, "tok-1")

	// Meanwhile the browser saw "c" through another replica; "b" is late.
	connect(t, r, followedURL, "tok-2")
	ask2 := b.lastRequest(t).Ask
	if ask2 == "" || ask2 == ask1 {
		t.Fatalf("ask of the second connect %q, first %q: want a new one", ask2, ask1)
	}
	b.deliver(stateKey, ownerState("b", 3, ask1))
	r.mu.Lock()
	f := r.followers[followedID]
	r.mu.Unlock()
	f.mu.Lock()
	sending := f.sending
	f.mu.Unlock()
	if sending || len(conn.ToToken("tok-2")) != 0 {
		t.Fatalf("a state that does not answer the connect was sent: %q", summary(t, conn.ToToken("tok-2")))
	}
	b.deliver(stateKey, ownerState("c", 4, "other", ask2))
	if diff := cmp.Diff([]string{"task_started {}", progressSummary("c", 4)},
		summary(t, conn.WaitCount(t, "tok-2", 2))); diff != "" {
		t.Fatalf("second stream (-want +got):\n%s", diff)
	}
	b.deliver(stateKey, ownerState("d", 5)) // live events need no answer
	if got := summary(t, conn.WaitCount(t, "tok-2", 3)); got[2] != progressSummary("d", 5) {
		t.Fatalf("second stream: %q, want d last", got)
	}
}

// A closed log is final: a follower sends it without waiting for an answer.
func TestFollowerSendsAClosedLogAtOnce(t *testing.T) {
	conn, b := newFakeConn(), newFakeBus()
	r := newTestRunner(t, conn, WithBus(b), WithLease(time.Hour, time.Hour))
	connect(t, r, followedURL, "tok-1")
	final := ownerState("a", 2)
	ts := time.Unix(0, 0)
	final.Entries = append(final.Entries,
		stateEntry{Slot: slotTerminal, Seq: 3, Name: EventName, Data: newEvent(TypeCompleted, followedID, ts, []byte("1")).Data},
		stateEntry{Slot: slotClose, Seq: 4, Name: EventName, Data: newEvent(TypeClose, followedID, ts, reasonData(TypeCompleted)).Data})
	b.deliver(stateKey(followedID), final)
	want := []string{"task_started {}", progressSummary("a", 2), "task_completed 1", `connection_close {"reason":"task_completed"} close`}
	if diff := cmp.Diff(want, summary(t, conn.WaitClosed(t, "tok-1"))); diff != "" {
		t.Fatalf("stream (-want +got):\n%s", diff)
	}
}

// An owner that answers but never echoes the ask (a replica of an older
// version): the follower sends its latest state after the lease timeout
// instead of nothing.
func TestFollowerOwnerWithoutAnswers(t *testing.T) {
	const timeout = 150 * time.Millisecond
	conn, b := newFakeConn(), newFakeBus()
	r := newTestRunner(t, conn, WithBus(b), WithLease(20*time.Millisecond, timeout))
	b.mu.Lock()
	b.onRequest = func(message) { b.deliver(stateKey(followedID), ownerState("a", 2)) }
	b.mu.Unlock()
	start := time.Now()
	connect(t, r, followedURL, "tok-1")
	got := summary(t, conn.WaitCount(t, "tok-1", 2))
	if took := time.Since(start); took < timeout {
		t.Errorf("sent after %v, before the lease timeout %v", took, timeout)
	}
	if diff := cmp.Diff([]string{"task_started {}", progressSummary("a", 2)}, got); diff != "" {
		t.Fatalf("stream (-want +got):\n%s", diff)
	}
}

// The owner's state message answers the asks received before it was built.
func TestOwnerAnswersAsks(t *testing.T) {
	conn, b := newFakeConn(), newFakeBus()
	r := newTestRunner(t, conn, WithBus(b), WithLease(time.Hour, time.Hour))
	s := newStepper(nil)
	info := startTask(t, r, s.fn)
	s.step(t, Update{Text: "a", Value: 0.5}) // started and reported
	b.deliver(ownerKey(info.ID), message{Type: msgState, Task: info.ID, Ask: "ask-1"})
	m := b.waitPublished(t, "a state answering ask-1", func(m message) bool { return len(m.Answers) > 0 })
	if diff := cmp.Diff([]string{"ask-1"}, m.Answers); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if len(m.Entries) != 2 || m.Entries[0].Slot != slotStarted || m.Entries[1].Slot != slotProgress {
		t.Errorf("answer %+v: want task_started and the progress", m)
	}
	s.finish()
	waitDone(t, r, info.ID)
}
