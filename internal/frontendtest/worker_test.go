package frontendtest

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func startTestWorker(t *testing.T, b *backend) *Worker {
	t.Helper()
	w := &Worker{Dial: Gateway(b.gw, nil), RequestID: "tab-1"}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

func waitState(t *testing.T, w *Worker, cond func(WorkerState) bool) WorkerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	st, err := w.Wait(ctx, cond)
	if err != nil {
		t.Fatalf("worker state %+v: %v", st, err)
	}
	return st
}

func taskEvent(taskID, typ string) string {
	return fmt.Sprintf(`{"event_type":%q,"task_id":%q,"timestamp":"2026-01-02T15:04:05.000Z","data":{}}`, typ, taskID)
}

// TestWorkerFiltersTasks sends two tasks' events and a version to one tab:
// the worker reads them from onmessage envelopes and filters them by
// task_id.
func TestWorkerFiltersTasks(t *testing.T) {
	b := newBackend(t, 2, true)
	w := startTestWorker(t, b)
	tok := b.token(t)
	b.send(t, tok, "task_event", taskEvent("a", "task_started"))
	b.send(t, tok, "task_event", taskEvent("b", "task_started"))
	b.send(t, tok, "version", `{"version":"2.0.0"}`)
	b.send(t, tok, "task_event", taskEvent("a", "task_completed"))
	b.send(t, tok, "", "not json")
	st := waitState(t, w, func(s WorkerState) bool { return len(s.Task("a")) == 2 })

	types := func(ms []TaskMessage) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.TaskID+" "+m.EventType)
		}
		return out
	}
	got := map[string][]string{"a": types(st.Task("a")), "b": types(st.Task("b")), "c": types(st.Task("c"))}
	want := map[string][]string{"a": {"a task_started", "a task_completed"}, "b": {"b task_started"}, "c": nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`{"version":"2.0.0"}`}, rawStrings(st.Versions())); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	if st.Connects != 1 || st.RequestID != "tab-1" {
		t.Errorf("connects %d, request id %q; want 1, tab-1", st.Connects, st.RequestID)
	}
}

// TestWorkerConnectionClose sends a named connection_close, which only a
// generation-1 gateway leaves named: the worker closes its stream for good.
func TestWorkerConnectionClose(t *testing.T) {
	b := newBackend(t, 1, true)
	w := startTestWorker(t, b)
	b.send(t, b.token(t), "connection_close", `{"reason":"shutdown"}`)
	st := waitState(t, w, func(s WorkerState) bool { return s.Closed })
	w.Stop()
	if st := w.State(); st.Connects != 1 || len(st.Waits) != 0 {
		t.Errorf("after connection_close: %d connects, waits %v; want no reconnect", st.Connects, st.Waits)
	}
	if len(st.Messages) != 0 {
		t.Errorf("messages %v; a generation-1 gateway's named events never reach onmessage", st.Messages)
	}
}

// TestWorkerHeader checks that the worker's connects carry the header given
// to Gateway, as a browser's carry its cookies.
func TestWorkerHeader(t *testing.T) {
	b := newBackend(t, 2, true)
	w := &Worker{Dial: Gateway(b.gw, http.Header{"Cookie": {"session=user-1"}})}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	b.token(t)
	if got := <-b.cookies; got != "session=user-1" {
		t.Errorf("Cookie = %q, want session=user-1", got)
	}
	if st := waitState(t, w, func(s WorkerState) bool { return s.Opens == 1 }); st.RequestID == "" {
		t.Error("no request id chosen")
	}
}

func TestWorkerStart(t *testing.T) {
	if err := (&Worker{}).Start(context.Background()); err == nil {
		t.Error("Start without Dial succeeded")
	}
	b := newBackend(t, 2, true)
	w := startTestWorker(t, b)
	if err := w.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	(&Worker{}).Stop() // never started: no-op
}

func rawStrings[T ~[]byte](in []T) []string {
	var out []string
	for _, r := range in {
		out = append(out, string(r))
	}
	return out
}
