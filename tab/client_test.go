package tab_test

import (
	"context"
	"encoding/json"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

const waitTimeout = 15 * time.Second

// tabClient is one browser tab's stream, as the page reads it: the
// generation-2 worker of the real frontend (one EventSource, onmessage
// envelopes) on a generation-2 gateway; on a generation-1 gateway, an
// EventSource with listeners for the named events task_event and version.
// Both reconnect with the same request id after the stream ends.
type tabClient interface {
	// Messages returns what the tab received so far, as {type, payload}.
	Messages() []frontendtest.Envelope
	// Wait waits until cond holds for the messages.
	Wait(ctx context.Context, cond func([]frontendtest.Envelope) bool) ([]frontendtest.Envelope, error)
	// Connects returns the number of streams opened.
	Opens() int
}

// openTab opens the tab rid of user on s's gateway, closed at the end of
// the test.
func openTab(t *testing.T, gw *gatewaytest.Server, gen int, rid, user string) tabClient {
	t.Helper()
	var header = session(user)
	if user == "" {
		header = nil
	}
	if gen == 2 {
		w := &frontendtest.Worker{Dial: frontendtest.Gateway(gw, header), RequestID: rid}
		if err := w.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		return workerTab{w}
	}
	c := &gen1Tab{dial: frontendtest.Gateway(gw, header), rid: rid, changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

type workerTab struct{ w *frontendtest.Worker }

func (w workerTab) Messages() []frontendtest.Envelope { return w.w.State().Messages }

func (w workerTab) Opens() int { return w.w.State().Opens }

func (w workerTab) Wait(ctx context.Context, cond func([]frontendtest.Envelope) bool) ([]frontendtest.Envelope, error) {
	st, err := w.w.Wait(ctx, func(s frontendtest.WorkerState) bool { return cond(s.Messages) })
	return st.Messages, err
}

// gen1Tab reads a generation-1 stream with listeners for task_event and
// version, and reconnects after 1 ms when it ends.
type gen1Tab struct {
	dial frontendtest.Dialer
	rid  string

	mu      sync.Mutex
	msgs    []frontendtest.Envelope
	opens   int
	changed chan struct{}
}

func (c *gen1Tab) run(ctx context.Context) {
	for ctx.Err() == nil {
		status, st, err := c.dial(ctx, "/api/sse/stream?request_id="+url.QueryEscape(c.rid))
		if err == nil && status == 200 && st != nil {
			c.update(func() { c.opens++ })
			for {
				ev, err := st.Next(ctx)
				if err != nil {
					break
				}
				if ev.Name == "task_event" || ev.Name == "version" {
					c.update(func() {
						c.msgs = append(c.msgs, frontendtest.Envelope{Type: ev.Name, Payload: json.RawMessage(ev.Data)})
					})
				}
			}
			st.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Millisecond):
		}
	}
}

func (c *gen1Tab) update(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *gen1Tab) Messages() []frontendtest.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frontendtest.Envelope(nil), c.msgs...)
}

func (c *gen1Tab) Opens() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens
}

func (c *gen1Tab) Wait(ctx context.Context, cond func([]frontendtest.Envelope) bool) ([]frontendtest.Envelope, error) {
	for {
		c.mu.Lock()
		msgs := append([]frontendtest.Envelope(nil), c.msgs...)
		changed := c.changed
		c.mu.Unlock()
		if cond(msgs) {
			return msgs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return msgs, ctx.Err()
		}
	}
}

// taskTypes returns the event types of taskID's task_events, in order: the
// page's filter by task_id.
func taskTypes(msgs []frontendtest.Envelope, taskID string) []string {
	var out []string
	for _, m := range msgs {
		if m.Type != "task_event" {
			continue
		}
		var tm frontendtest.TaskMessage
		if json.Unmarshal(m.Payload, &tm) == nil && tm.TaskID == taskID {
			out = append(out, tm.EventType)
		}
	}
	return out
}

// taskEvents counts the task_events of any task.
func taskEvents(msgs []frontendtest.Envelope) int {
	n := 0
	for _, m := range msgs {
		if m.Type == "task_event" {
			n++
		}
	}
	return n
}

// versions returns the versions of the version messages, in order.
func versions(msgs []frontendtest.Envelope) []string {
	var out []string
	for _, m := range msgs {
		if m.Type != "version" {
			continue
		}
		var v struct {
			Version string `json:"version"`
		}
		_ = json.Unmarshal(m.Payload, &v)
		out = append(out, v.Version)
	}
	return out
}

// lifecycle is the whole lifecycle of a completed task on a tab: the
// stream is not ended, so there is no connection_close.
var lifecycle = []string{"task_started", "progress_update", "task_completed"}

// hasLifecycle reports whether taskID's events are exactly want.
func hasTypes(taskID string, want []string) func([]frontendtest.Envelope) bool {
	return func(msgs []frontendtest.Envelope) bool {
		got := taskTypes(msgs, taskID)
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
}

func waitTab(t *testing.T, c tabClient, what string, cond func([]frontendtest.Envelope) bool) []frontendtest.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	msgs, err := c.Wait(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v; messages so far: %s", what, err, render(msgs))
	}
	return msgs
}

func render(msgs []frontendtest.Envelope) string {
	b, _ := json.Marshal(msgs)
	return string(b)
}
