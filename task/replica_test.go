package task

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/bus"
)

// fakeBus records what a Runner publishes and requests; the test delivers
// messages to the Runner itself, in the order it chooses.
type fakeBus struct {
	mu       sync.Mutex
	h        bus.Handler
	requests []message
}

func (b *fakeBus) Subscribe(h bus.Handler) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.h = h
	return func() {}
}

func (b *fakeBus) Bind(context.Context, string) error            { return nil }
func (b *fakeBus) Unbind(context.Context, string) error          { return nil }
func (b *fakeBus) Publish(context.Context, string, []byte) error { return nil }
func (b *fakeBus) Request(_ context.Context, _ string, body []byte) error {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests = append(b.requests, m)
	return nil
}

// lastNonce returns the nonce of the latest state request.
func (b *fakeBus) lastNonce(t *testing.T) uint64 {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.requests) == 0 || b.requests[len(b.requests)-1].Nonce == 0 {
		t.Fatalf("no state request with a nonce: %+v", b.requests)
	}
	return b.requests[len(b.requests)-1].Nonce
}

// deliver hands the Runner a state message from the owner.
func (b *fakeBus) deliver(t *testing.T, id string, entries []stateEntry, replies ...uint64) {
	t.Helper()
	body, err := json.Marshal(message{Type: msgState, Task: id, Entries: entries, Replies: replies})
	if err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	h := b.h
	b.mu.Unlock()
	h.Deliver(stateKey(id), body)
}

// A follower's stream gets nothing until the owner answers this connect's
// own request: a state that was still on its way from before (progress "b",
// while the browser had already seen "c" through the owner) never reaches
// the new stream, so its progress does not go backwards.
func TestFollowerWaitsForTheAnswerToItsRequest(t *testing.T) {
	conn := newFakeConn()
	fb := &fakeBus{}
	r, err := New(conn, WithBus(fb))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	streamURL := DefaultStreamPath + "?task_id=" + sampleID
	connect(t, r, streamURL, "tok")

	started := stateEntry{Slot: slotStarted, Seq: 1, Name: EventName, Data: `{"event_type":"task_started","task_id":"` + sampleID + `","timestamp":"t","data":{}}`}
	progress := func(seq uint64, text string) stateEntry {
		return stateEntry{Slot: slotProgress, Seq: seq, Name: EventName,
			Data: `{"event_type":"progress_update","task_id":"` + sampleID + `","timestamp":"t","data":{"text":"` + text + `"}}`}
	}
	fb.deliver(t, sampleID, []stateEntry{started, progress(2, "b")}) // stale, answers nothing
	if got := conn.ToToken("tok"); len(got) != 0 {
		t.Fatalf("the stream got %v before the owner answered its request", summary(t, got))
	}
	fb.deliver(t, sampleID, []stateEntry{started, progress(3, "c")}, fb.lastNonce(t))
	got := summary(t, conn.WaitCount(t, "tok", 2))
	want := []string{"task_started {}", `progress_update {"text":"c"}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
