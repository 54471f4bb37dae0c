package amqp_test

// The per-tab model (package tab) with two replicas behind one gateway in
// AMQP mode: the connects go to the replicas in turn, tasks run on either,
// and the tab is the real frontend's generation-2 worker (one EventSource
// per tab, onmessage envelopes, task_events filtered by task_id).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

// tabCluster is a backend of two replicas, each with its own bus, manager,
// hub and runner, behind one in-process gateway in AMQP mode.
type tabCluster struct {
	gw       *gatewaytest.Server // nil with the reference gateway
	real     *realgw.Gateway     // the reference gateway, if used
	prefix   string
	replicas []*tabReplica
	turn     atomic.Int64
}

type tabReplica struct {
	bus    *amqp.Bus
	conns  *sseconn.Manager
	hub    *tab.Hub
	runner *task.Runner
	cb     *callback.Handler
}

func cookieSubject(req *callback.Request) (string, error) {
	c, err := (&http.Request{Header: req.Header}).Cookie("session")
	if err != nil {
		return "", errors.New("no session")
	}
	return c.Value, nil
}

func newTabCluster(t *testing.T) *tabCluster { return newTabClusterOn(t, false) }

// newTabClusterOn starts the cluster behind gatewaytest, or with real
// behind the reference gateway, generation 2, in AMQP mode.
func newTabClusterOn(t *testing.T, real bool) *tabCluster {
	t.Helper()
	url := testenv.Require(t, testenv.RabbitMQ)
	const ttl = 30 * time.Second
	c := &tabCluster{prefix: uniqueName(t)}
	ready := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		i := int(c.turn.Add(1)-1) % len(c.replicas)
		c.replicas[i].cb.ServeHTTP(w, r)
	}))
	gwURL := ""
	if real {
		c.real = realgw.Start(t, realgw.Dir(t, 2), realgw.Config{
			CallbackURL: backend.URL + "/api/sse/callback?secret=" + scaleSecret,
			RabbitMQURL: url, QueueTTL: ttl, EnvPrefix: c.prefix,
		})
		gwURL = c.real.URL
	} else {
		c.gw = gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret="+scaleSecret,
			gatewaytest.WithGeneration(2), gatewayAMQP(url, c.prefix, ttl))
		gwURL = c.gw.URL
	}
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
			defer cancel()
			for i, r := range c.replicas {
				if err := r.runner.Shutdown(ctx); err != nil {
					t.Errorf("replica %d: runner.Shutdown: %v", i, err)
				}
			}
			for _, r := range c.replicas {
				_ = r.cb.Shutdown(ctx)
			}
			if c.gw != nil {
				c.gw.Close()
			}
			for _, r := range c.replicas {
				r.hub.Close()
				_ = r.conns.Shutdown(ctx)
				_ = r.bus.Close()
			}
			backend.Close()
		})
	})
	for i := range 2 {
		r := &tabReplica{}
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
		r.bus, err = amqp.NewBus(ctx, url, amqp.WithEnvPrefix(c.prefix), amqp.WithQueueTTL(ttl))
		cancel()
		if err != nil {
			t.Fatalf("replica %d: NewBus: %v", i, err)
		}
		if r.conns, err = sseconn.New(gwURL); err != nil {
			t.Fatalf("replica %d: sseconn.New: %v", i, err)
		}
		r.hub, err = tab.New(r.conns, tab.WithGateway(r.bus.Gateway()), tab.WithSubject(cookieSubject),
			tab.WithGreeter(version.Greeter(version.Static{Version: "1.0.0"})))
		if err != nil {
			t.Fatalf("replica %d: tab.New: %v", i, err)
		}
		if r.runner, err = task.New(r.conns, task.WithBus(r.bus), task.WithTabs(r.hub)); err != nil {
			t.Fatalf("replica %d: task.New: %v", i, err)
		}
		r.cb, err = callback.NewHandler(callback.WithSecret(scaleSecret),
			callback.WithRoute(r.hub.Matcher(), r.hub), callback.WithRoute(r.runner.Matcher(), r.runner))
		if err != nil {
			t.Fatalf("replica %d: callback.NewHandler: %v", i, err)
		}
		c.replicas = append(c.replicas, r)
	}
	close(ready)
	return c
}

// rid returns a request id unique to the test (queues are shared on the
// broker).
func (c *tabCluster) rid(name string) string { return c.prefix + "-" + name }

// worker opens the generation-2 worker of tab rid, signed in as user.
func (c *tabCluster) worker(t *testing.T, rid, user string) *frontendtest.Worker {
	t.Helper()
	header := http.Header{"Cookie": {"session=" + user}}
	var dial frontendtest.Dialer
	if c.real != nil {
		dial = func(ctx context.Context, path string) (int, frontendtest.Stream, error) {
			st, err := realgw.Open(ctx, c.real.URL+path, header)
			if err != nil {
				return 0, nil, err
			}
			if !st.IsEventStream() {
				return st.StatusCode, nil, nil
			}
			return st.StatusCode, st, nil
		}
	} else {
		dial = frontendtest.Gateway(c.gw, header)
	}
	w := &frontendtest.Worker{Dial: dial, RequestID: rid}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// tabGate is a task that reports progress and finishes when told.
type tabGate struct{ progress, finish chan struct{} }

func (g tabGate) fn(ctx context.Context, p *task.Progress) (any, error) {
	for _, ch := range []chan struct{}{g.progress, g.finish} {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if ch == g.progress {
			p.Report("halfway", 0.5)
		}
	}
	return map[string]bool{"success": true}, nil
}

// run starts a task For aud on replica r, lets it run to completion and
// waits for it.
func (c *tabCluster) run(t *testing.T, r int, aud tab.Audience) string {
	t.Helper()
	g := tabGate{make(chan struct{}), make(chan struct{})}
	info, err := c.replicas[r].runner.Start(context.Background(), g.fn, task.For(aud))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	close(g.progress)
	close(g.finish)
	waitTask(t, c.replicas[r].runner, info.ID)
	return info.ID
}

var tabLifecycle = []string{"task_started", "progress_update", "task_completed"}

func workerTypes(s frontendtest.WorkerState, id string) []string {
	var out []string
	for _, m := range s.Task(id) {
		out = append(out, m.EventType)
	}
	return out
}

func workerTaskEvents(s frontendtest.WorkerState) int {
	n := 0
	for _, m := range s.Messages {
		if m.Type == "task_event" {
			n++
		}
	}
	return n
}

func workerVersions(s frontendtest.WorkerState) []string {
	var out []string
	for _, p := range s.Versions() {
		var v version.Info
		_ = json.Unmarshal(p, &v)
		out = append(out, v.Version)
	}
	return out
}

func waitWorkerState(t *testing.T, w *frontendtest.Worker, what string, cond func(frontendtest.WorkerState) bool) frontendtest.WorkerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	s, err := w.Wait(ctx, cond)
	if err != nil {
		b, _ := json.Marshal(s.Messages)
		t.Fatalf("tab %s: waiting for %s: %v; messages: %s", w.RequestID, what, err, b)
	}
	return s
}

func lifecycleOf(id string) func(frontendtest.WorkerState) bool {
	return func(s frontendtest.WorkerState) bool { return slices.Equal(workerTypes(s, id), tabLifecycle) }
}

// TestFrontendTabTwoTasksAMQP runs two tasks at once for one tab, on two
// replicas, and checks that the tab gets both lifecycles and the version
// events on its one stream, that another user's tabs, one of them claiming
// the same request id, get none of it, and that a broadcast task reaches
// every tab.
func TestFrontendTabTwoTasksAMQP(t *testing.T) { testTabTwoTasksAMQP(t, false) }

// TestFrontendTabTwoTasksRealGatewayAMQP is TestFrontendTabTwoTasksAMQP
// behind the reference gateway, generation 2, in AMQP mode.
func TestFrontendTabTwoTasksRealGatewayAMQP(t *testing.T) { testTabTwoTasksAMQP(t, true) }

func testTabTwoTasksAMQP(t *testing.T, real bool) {
	c := newTabClusterOn(t, real)
	ridA := c.rid("a")
	alice := c.worker(t, ridA, "alice")
	bob := c.worker(t, c.rid("b"), "bob")
	thief := c.worker(t, ridA, "bob")
	opened := func(s frontendtest.WorkerState) bool { return len(workerVersions(s)) == 1 }
	for _, w := range []*frontendtest.Worker{alice, bob, thief} {
		waitWorkerState(t, w, "the current version", opened)
	}

	var ids [2]string
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { ids[i] = c.run(t, i, tab.To(ridA, "alice")) })
	}
	wg.Wait()
	for _, id := range ids {
		waitWorkerState(t, alice, "a task's lifecycle", lifecycleOf(id))
	}

	ev, err := version.Event(version.Info{Version: "2.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.replicas[1].hub.Send(context.Background(), tab.Broadcast(), ev); err != nil {
		t.Fatalf("Send version: %v", err)
	}
	bc := c.run(t, 0, tab.Broadcast())
	for name, w := range map[string]*frontendtest.Worker{"alice": alice, "bob": bob, "thief": thief} {
		waitWorkerState(t, w, "the broadcast task", lifecycleOf(bc))
		s := waitWorkerState(t, w, "the new version", func(s frontendtest.WorkerState) bool {
			return slices.Equal(workerVersions(s), []string{"1.0.0", "2.0.0"})
		})
		want := 3
		if name == "alice" {
			want = 9
		}
		if got := workerTaskEvents(s); got != want {
			b, _ := json.Marshal(s.Messages)
			t.Errorf("%s got %d task events, want %d: %s", name, got, want, b)
		}
		if s.Opens != 1 || s.Closed {
			t.Errorf("%s: %d streams opened, closed %v; want one stream that stays open", name, s.Opens, s.Closed)
		}
	}
}

// TestFrontendTabSubjectAMQP sends a task to every tab of a user, from the
// replica that handled neither connect.
func TestFrontendTabSubjectAMQP(t *testing.T) {
	c := newTabCluster(t)
	a1 := c.worker(t, c.rid("a1"), "alice")
	a2 := c.worker(t, c.rid("a2"), "alice")
	bob := c.worker(t, c.rid("b"), "bob")
	for _, w := range []*frontendtest.Worker{a1, a2, bob} {
		waitWorkerState(t, w, "the current version", func(s frontendtest.WorkerState) bool { return len(workerVersions(s)) == 1 })
	}
	id := c.run(t, 1, tab.ToSubject("alice"))
	waitWorkerState(t, a1, "the task", lifecycleOf(id))
	waitWorkerState(t, a2, "the task", lifecycleOf(id))
	// Messages to one queue arrive in publish order: once bob has the
	// version published after the task ended, he would have had its
	// events before it.
	ev, _ := version.Event(version.Info{Version: "2.0.0"})
	if err := c.replicas[0].hub.Send(context.Background(), tab.Broadcast(), ev); err != nil {
		t.Fatal(err)
	}
	s := waitWorkerState(t, bob, "the marker version", func(s frontendtest.WorkerState) bool { return len(workerVersions(s)) == 2 })
	if n := workerTaskEvents(s); n != 0 {
		t.Errorf("bob got %d of alice's task events", n)
	}
}

// TestFrontendTabBeforeConnectAndReconnectAMQP runs a task to its end
// before its tab ever connected, and another while the tab reconnects (the
// gateway restarted and refuses connections meanwhile): the gateway's
// queue keeps both.
// TestFrontendTabBeforeConnectAndRestartRealGatewayAMQP runs a task to its
// end before its tab ever connected, behind the reference gateway in AMQP
// mode, and another while the gateway restarts: the tab's queue, declared
// by the hub and then by the gateway, keeps both.
func TestFrontendTabBeforeConnectAndRestartRealGatewayAMQP(t *testing.T) {
	c := newTabClusterOn(t, true)
	rid := c.rid("c")
	id1 := c.run(t, 1, tab.To(rid, "carol"))
	w := c.worker(t, rid, "carol")
	waitWorkerState(t, w, "the task before connect", lifecycleOf(id1))
	c.real.Restart()
	id2 := c.run(t, 0, tab.To(rid, "carol"))
	s := waitWorkerState(t, w, "the task after the restart", lifecycleOf(id2))
	if s.Opens < 2 {
		t.Errorf("%d streams opened, want a reconnect", s.Opens)
	}
}

func TestFrontendTabBeforeConnectAndReconnectAMQP(t *testing.T) {
	c := newTabCluster(t)
	rid := c.rid("c")
	id1 := c.run(t, 1, tab.To(rid, "carol"))
	w := c.worker(t, rid, "carol")
	waitWorkerState(t, w, "the task before connect", lifecycleOf(id1))

	c.gw.RefuseConnections()
	c.gw.Restart()
	id2 := c.run(t, 0, tab.To(rid, "carol"))
	c.gw.AcceptConnections()
	s := waitWorkerState(t, w, "the task during the reconnect", lifecycleOf(id2))
	if s.Opens < 2 {
		t.Errorf("%d streams opened, want a reconnect", s.Opens)
	}
}

// TestFrontendTabTaskRouteAMQP opens the task route of a task started For
// a tab, through each replica: its events reach its tab only, so both the
// owner and the other replica tell the task stream it is not found.
func TestFrontendTabTaskRouteAMQP(t *testing.T) {
	c := newTabCluster(t)
	g := tabGate{make(chan struct{}), make(chan struct{})}
	info, err := c.replicas[0].runner.Start(context.Background(), g.fn, task.For(tab.To(c.rid("d"), "dave")))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(g.progress)
		close(g.finish)
		waitTask(t, c.replicas[0].runner, info.ID)
	}()
	notFound := []string{`task_failed {"error":"task not found","code":"TASK_NOT_FOUND"}`, `connection_close {"reason":"task_not_found"}`}
	for range 2 { // the connects go to the replicas in turn
		ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
		st, err := c.gw.Connect(ctx, "/api/sse/tasks?task_id="+info.ID, nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		s := &stream{t: t, st: st}
		s.expect(notFound...)
		s.expectEOF()
		st.Close()
	}
}
