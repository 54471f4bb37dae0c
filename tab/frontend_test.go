package tab_test

// Tests with a tab the way the real frontend's generation 2 follows it:
// one stream per tab at /api/sse/stream?request_id=<tab>, every task's
// task_event filtered by task_id, and the version events on the same
// stream. On a generation-2 gateway the tab is the real worker (onmessage
// envelopes); on a generation-1 gateway it listens for the named events.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

// gate is a task that reports progress and finishes when told.
type gate struct{ progress, finish chan struct{} }

func newGate() gate { return gate{make(chan struct{}), make(chan struct{})} }

func (g gate) fn(ctx context.Context, p *task.Progress) (any, error) {
	select {
	case <-g.progress:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.Report("halfway", 0.5)
	select {
	case <-g.finish:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return map[string]any{"success": true, "analysis": "ok"}, nil
}

// start starts a gated task For aud.
func start(t *testing.T, s *stack, aud tab.Audience) (string, gate) {
	t.Helper()
	g := newGate()
	info, err := s.runner.Start(context.Background(), g.fn, task.For(aud))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if info.StreamURL != "" {
		t.Errorf("Info.StreamURL = %q for a task For tabs, want empty", info.StreamURL)
	}
	return info.ID, g
}

// finish lets a gated task report progress and complete, and waits for it.
func finish(t *testing.T, s *stack, id string, g gate) {
	t.Helper()
	close(g.progress)
	close(g.finish)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if info, err := s.runner.Wait(ctx, id); err != nil || info.Status != task.StatusCompleted {
		t.Fatalf("Wait(%s): %+v, %v; want completed", id, info, err)
	}
}

func broadcastVersion(t *testing.T, s *stack, v string) {
	t.Helper()
	ev, err := version.Event(version.Info{Version: v})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.hub.Send(context.Background(), tab.Broadcast(), ev); err != nil {
		t.Fatalf("Send version %s: %v", v, err)
	}
}

func hasVersions(want ...string) func([]frontendtest.Envelope) bool {
	return func(msgs []frontendtest.Envelope) bool { return slices.Equal(versions(msgs), want) }
}

// TestFrontendTabTwoTasks follows two tasks at once on one tab, the
// version events on the same stream, and checks that another user's tabs,
// one of them claiming the same request id, see none of it; then a task
// started as broadcast reaches every tab.
func TestFrontendTabTwoTasks(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("gen%d", gen), func(t *testing.T) {
			s := newStack(t, stackConfig{gen: gen})
			alice := openTab(t, s.gw, gen, "tab-a", "alice")
			bob := openTab(t, s.gw, gen, "tab-b", "bob")
			thief := openTab(t, s.gw, gen, "tab-a", "bob") // bob claims alice's request id
			for _, c := range []tabClient{alice, bob, thief} {
				waitTab(t, c, "the current version", hasVersions("1.0.0"))
			}

			id1, g1 := start(t, s, tab.To("tab-a", "alice"))
			id2, g2 := start(t, s, tab.To("tab-a", "alice"))
			waitTab(t, alice, "both tasks started", func(m []frontendtest.Envelope) bool {
				return len(taskTypes(m, id1)) == 1 && len(taskTypes(m, id2)) == 1
			})
			finish(t, s, id2, g2)
			waitTab(t, alice, "task 2's lifecycle", hasTypes(id2, lifecycle))
			finish(t, s, id1, g1)
			waitTab(t, alice, "task 1's lifecycle", hasTypes(id1, lifecycle))

			broadcastVersion(t, s, "1.1.0")
			id3, g3 := start(t, s, tab.Broadcast())
			finish(t, s, id3, g3)
			for name, c := range map[string]tabClient{"alice": alice, "bob": bob, "thief": thief} {
				waitTab(t, c, "the broadcast task", hasTypes(id3, lifecycle))
				msgs := waitTab(t, c, "the new version", hasVersions("1.0.0", "1.1.0"))
				want := 3
				if name == "alice" {
					want = 9
					if diff := cmp.Diff(lifecycle, taskTypes(msgs, id1)); diff != "" {
						t.Errorf("alice, task 1 (-want +got):\n%s", diff)
					}
				}
				if got := taskEvents(msgs); got != want {
					t.Errorf("%s got %d task events, want %d: %s", name, got, want, render(msgs))
				}
				if c.Opens() != 1 {
					t.Errorf("%s opened %d streams, want 1: the tab stream stays open across tasks", name, c.Opens())
				}
			}
			if w, ok := alice.(workerTab); ok && w.w.State().Closed {
				t.Error("the worker got connection_close: a task's end must not close the tab's stream")
			}
		})
	}
}

// TestFrontendTabSubject sends a task to every tab of a user: both of
// alice's tabs get it, bob's does not.
func TestFrontendTabSubject(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("gen%d", gen), func(t *testing.T) {
			s := newStack(t, stackConfig{gen: gen})
			a1 := openTab(t, s.gw, gen, "a1", "alice")
			a2 := openTab(t, s.gw, gen, "a2", "alice")
			bob := openTab(t, s.gw, gen, "b1", "bob")
			for _, c := range []tabClient{a1, a2, bob} {
				waitTab(t, c, "the current version", hasVersions("1.0.0"))
			}
			id, g := start(t, s, tab.ToSubject("alice"))
			finish(t, s, id, g)
			waitTab(t, a1, "the task", hasTypes(id, lifecycle))
			waitTab(t, a2, "the task", hasTypes(id, lifecycle))
			// The hub sends to a tab in the order of the sends: once bob has
			// the version sent after the task ended, he would have had its
			// events before.
			broadcastVersion(t, s, "2.0.0")
			msgs := waitTab(t, bob, "the marker version", hasVersions("1.0.0", "2.0.0"))
			if n := taskEvents(msgs); n != 0 {
				t.Errorf("bob got %d task events of alice's: %s", n, render(msgs))
			}
		})
	}
}

// TestFrontendTabBeforeConnectAndReconnect runs a task to its end before
// its tab connects, and another while the tab reconnects (the gateway
// restarted and refuses connections meanwhile): the tab gets both whole.
func TestFrontendTabBeforeConnectAndReconnect(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("gen%d", gen), func(t *testing.T) {
			s := newStack(t, stackConfig{gen: gen})
			id1, g1 := start(t, s, tab.To("tab-c", "carol"))
			finish(t, s, id1, g1)
			c := openTab(t, s.gw, gen, "tab-c", "carol")
			msgs := waitTab(t, c, "the task before connect", hasTypes(id1, lifecycle))
			if got := versions(msgs); len(got) == 0 || msgs[0].Type != "version" {
				t.Errorf("first message %s, want the current version first", render(msgs[:1]))
			}

			s.gw.RefuseConnections()
			s.gw.Restart()
			id2, g2 := start(t, s, tab.To("tab-c", "carol"))
			finish(t, s, id2, g2)
			s.gw.AcceptConnections()
			waitTab(t, c, "the task during the reconnect", hasTypes(id2, lifecycle))
			if c.Opens() < 2 {
				t.Errorf("opened %d streams, want a reconnect", c.Opens())
			}
		})
	}
}

// TestFrontendTabRefused refuses a tab without a session: 401 on
// generation 1, a rejected event on generation 2.
func TestFrontendTabRefused(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("gen%d", gen), func(t *testing.T) {
			s := newStack(t, stackConfig{gen: gen})
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			st, err := s.gw.Connect(ctx, "/api/sse/stream?request_id=tab-x", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if gen == 1 {
				if st.StatusCode != http.StatusUnauthorized {
					t.Errorf("status %d, want 401", st.StatusCode)
				}
				return
			}
			ev, err := st.Next(ctx)
			if err != nil || ev.Name != "rejected" || ev.Data != `{"status":401,"message":"Unauthorized"}` {
				t.Errorf("first event %+v, %v; want rejected with 401", ev, err)
			}
		})
	}
}

// TestFrontendTabTaskRouteNotFound opens the task route of a task started
// For a tab: its events reach its tab only, so the task stream is told the
// task is not found, and the tab still gets the whole lifecycle.
func TestFrontendTabTaskRouteNotFound(t *testing.T) {
	s := newStack(t, stackConfig{gen: 2})
	c := openTab(t, s.gw, 2, "tab-d", "dave")
	id, g := start(t, s, tab.To("tab-d", "dave"))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := s.gw.Connect(ctx, "/api/sse/tasks?task_id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev, err := st.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev := ev.Unwrap(); ev.Name != "task_event" || !strings.Contains(ev.Data, `"code":"TASK_NOT_FOUND"`) {
		t.Errorf("task stream got %+v, want task_failed TASK_NOT_FOUND", ev)
	}
	finish(t, s, id, g)
	waitTab(t, c, "the lifecycle", hasTypes(id, lifecycle))
}
