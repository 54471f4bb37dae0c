package realgw_test

// The per-tab model (package tab) through the reference gateway,
// generation 2, with the real frontend's generation-2 worker: one
// EventSource per tab, onmessage envelopes, task_events filtered by
// task_id, version events on the same stream.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

// realDialer opens streams on the reference gateway as an EventSource does.
func realDialer(gw *realgw.Gateway, header http.Header) frontendtest.Dialer {
	return func(ctx context.Context, path string) (int, frontendtest.Stream, error) {
		st, err := realgw.Open(ctx, gw.URL+path, header)
		if err != nil {
			return 0, nil, err
		}
		if !st.IsEventStream() {
			return st.StatusCode, nil, nil
		}
		return st.StatusCode, st, nil
	}
}

// tabStack starts a reference gateway of generation 2 in front of a backend
// with a tab hub and a runner sending to it.
func tabStack(t *testing.T) (*realgw.Gateway, *tab.Hub, *task.Runner) {
	t.Helper()
	var h *callback.Handler
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	gw := realgw.Start(t, realgw.Dir(t, 2), realgw.Config{CallbackURL: srv.URL + callbackPath + "?secret=" + secret})
	mgr, err := sseconn.New(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, mgr.Shutdown) })
	hub, err := tab.New(mgr,
		tab.WithSubject(func(req *callback.Request) (string, error) {
			c, err := (&http.Request{Header: req.Header}).Cookie("session")
			if err != nil {
				return "", errors.New("no session")
			}
			return c.Value, nil
		}),
		tab.WithGreeter(version.Greeter(version.Static{Version: "1.0.0"})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	runner, err := task.New(mgr, task.WithTabs(hub))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, runner.Shutdown) })
	h, err = callback.NewHandler(callback.WithSecret(secret),
		callback.WithRoute(hub.Matcher(), hub), callback.WithRoute(runner.Matcher(), runner))
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	return gw, hub, runner
}

func startTabWorker(t *testing.T, gw *realgw.Gateway, rid, user string) *frontendtest.Worker {
	t.Helper()
	w := &frontendtest.Worker{Dial: realDialer(gw, http.Header{"Cookie": {"session=" + user}}), RequestID: rid}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

func waitTabWorker(t *testing.T, w *frontendtest.Worker, what string, cond func(frontendtest.WorkerState) bool) frontendtest.WorkerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := w.Wait(ctx, cond)
	if err != nil {
		b, _ := json.Marshal(s.Messages)
		t.Fatalf("tab %s: waiting for %s: %v; messages %s", w.RequestID, what, err, b)
	}
	return s
}

func tabTypes(s frontendtest.WorkerState, id string) []string {
	var out []string
	for _, m := range s.Task(id) {
		out = append(out, m.EventType)
	}
	return out
}

func tabVersions(s frontendtest.WorkerState) []string {
	var out []string
	for _, p := range s.Versions() {
		var v version.Info
		_ = json.Unmarshal(p, &v)
		out = append(out, v.Version)
	}
	return out
}

func tabTaskEvents(s frontendtest.WorkerState) int {
	n := 0
	for _, m := range s.Messages {
		if m.Type == "task_event" {
			n++
		}
	}
	return n
}

var tabLifecycle = []string{task.TypeStarted, task.TypeProgress, task.TypeCompleted}

func tabLifecycleOf(id string) func(frontendtest.WorkerState) bool {
	return func(s frontendtest.WorkerState) bool { return slices.Equal(tabTypes(s, id), tabLifecycle) }
}

// tabTask is a task that reports progress and completes when told.
type tabTask struct {
	id             string
	progress, done chan struct{}
}

func startTabTask(t *testing.T, r *task.Runner, aud tab.Audience) *tabTask {
	t.Helper()
	tt := &tabTask{progress: make(chan struct{}), done: make(chan struct{})}
	info, err := r.Start(context.Background(), func(ctx context.Context, p *task.Progress) (any, error) {
		for i, ch := range []chan struct{}{tt.progress, tt.done} {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if i == 0 {
				p.Report("halfway", 0.5)
			}
		}
		return map[string]bool{"success": true}, nil
	}, task.For(aud))
	if err != nil {
		t.Fatal(err)
	}
	tt.id = info.ID
	return tt
}

func (tt *tabTask) finish(t *testing.T, r *task.Runner) {
	t.Helper()
	close(tt.progress)
	close(tt.done)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := r.Wait(ctx, tt.id); err != nil {
		t.Fatal(err)
	}
}

// TestFrontendTabTwoTasks runs two tasks at once for one tab through the
// reference gateway: the tab gets both lifecycles and the version events on
// its one stream; another user's tabs, one claiming the same request id,
// get only what was broadcast.
func TestFrontendTabTwoTasks(t *testing.T) {
	gw, hub, runner := tabStack(t)
	alice := startTabWorker(t, gw, "tab-a", "alice")
	bob := startTabWorker(t, gw, "tab-b", "bob")
	thief := startTabWorker(t, gw, "tab-a", "bob")
	for _, w := range []*frontendtest.Worker{alice, bob, thief} {
		waitTabWorker(t, w, "the current version", func(s frontendtest.WorkerState) bool { return len(tabVersions(s)) == 1 })
	}
	t1 := startTabTask(t, runner, tab.To("tab-a", "alice"))
	t2 := startTabTask(t, runner, tab.To("tab-a", "alice"))
	waitTabWorker(t, alice, "both started", func(s frontendtest.WorkerState) bool {
		return len(tabTypes(s, t1.id)) == 1 && len(tabTypes(s, t2.id)) == 1
	})
	t2.finish(t, runner)
	t1.finish(t, runner)
	waitTabWorker(t, alice, "task 1", tabLifecycleOf(t1.id))
	waitTabWorker(t, alice, "task 2", tabLifecycleOf(t2.id))

	ev, err := version.Event(version.Info{Version: "2.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := hub.Send(context.Background(), tab.Broadcast(), ev); err != nil {
		t.Fatal(err)
	}
	bc := startTabTask(t, runner, tab.Broadcast())
	bc.finish(t, runner)
	for name, w := range map[string]*frontendtest.Worker{"alice": alice, "bob": bob, "thief": thief} {
		waitTabWorker(t, w, "the broadcast task", tabLifecycleOf(bc.id))
		s := waitTabWorker(t, w, "the new version", func(s frontendtest.WorkerState) bool {
			return slices.Equal(tabVersions(s), []string{"1.0.0", "2.0.0"})
		})
		want := 3
		if name == "alice" {
			want = 9
		}
		if got := tabTaskEvents(s); got != want {
			b, _ := json.Marshal(s.Messages)
			t.Errorf("%s got %d task events, want %d: %s", name, got, want, b)
		}
		if s.Opens != 1 || s.Closed {
			t.Errorf("%s: %d streams opened, closed %v; want one stream that stays open", name, s.Opens, s.Closed)
		}
	}
}

// TestFrontendTabBeforeConnectAndRestart runs a task to its end before its
// tab connects, and finishes another while the reference gateway restarts
// (the tab's stream ends and the worker reconnects): the tab gets both.
func TestFrontendTabBeforeConnectAndRestart(t *testing.T) {
	gw, _, runner := tabStack(t)
	t1 := startTabTask(t, runner, tab.To("tab-c", "carol"))
	t1.finish(t, runner)
	w := startTabWorker(t, gw, "tab-c", "carol")
	waitTabWorker(t, w, "the task before connect", tabLifecycleOf(t1.id))

	t2 := startTabTask(t, runner, tab.To("tab-c", "carol"))
	waitTabWorker(t, w, "task 2 started", func(s frontendtest.WorkerState) bool { return len(tabTypes(s, t2.id)) == 1 })
	gw.Restart()
	t2.finish(t, runner)
	// The restart may kill the gateway between its write of an event and
	// its answer to the send: the hub cannot know whether the event
	// arrived and sends it again (at least once; package tab,
	// "Events before connect, and during a reconnect"). The page filters
	// by task_id and type, so a repeated event changes nothing it shows.
	s := waitTabWorker(t, w, "task 2 after the restart", func(s frontendtest.WorkerState) bool {
		return slices.Equal(slices.Compact(tabTypes(s, t2.id)), tabLifecycle)
	})
	if s.Opens < 2 {
		t.Errorf("%d streams opened, want a reconnect after the restart", s.Opens)
	}
}
