package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/task"
)

// A task started on replica A, its stream connected through replica B: the
// whole lifecycle in order, then the stream ends.
func TestScaleOutTaskLifecycle(t *testing.T) {
	scaleTaskLifecycle(t, clusterConfig{})
}

// scaleTaskLifecycle runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleTaskLifecycle(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW = 2, true
	c := newCluster(t, cc)
	a, b := c.replicas[0], c.replicas[1]
	s := newStepper(map[string]int{"n": 7})
	info := startTask(t, a.runner, s.fn)
	c.pin(1)
	st := c.mustOpen(info.StreamURL)
	st.expect(evStarted)
	s.step(t, "one", 0.25)
	st.expect(progressLine("one", 0.25))
	s.step(t, "two", 0.5)
	st.expect(progressLine("two", 0.5))
	close(s.steps)
	st.expect(`task_completed {"n":7}`, closeCompleted)
	st.expectEOF()
	if _, ok := b.runner.Get(info.ID); ok {
		t.Error("replica B holds the task of replica A")
	}
}

// The browser connects (through B) before the task has started, and after
// it has finished.
func TestScaleOutTaskConnectBeforeStartAndAfterEnd(t *testing.T) {
	scaleTaskConnectBeforeStartAndAfterEnd(t, clusterConfig{})
}

// scaleTaskConnectBeforeStartAndAfterEnd runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleTaskConnectBeforeStartAndAfterEnd(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW, cc.taskOpts = 2, true, []task.Option{task.WithWorkers(1)}
	c := newCluster(t, cc)
	a := c.replicas[0]
	blocker := newStepper(nil)
	startTask(t, a.runner, blocker.fn) // holds the only worker
	s := newStepper("done")
	info := startTask(t, a.runner, s.fn)
	if got, _ := a.runner.Get(info.ID); got.Status != task.StatusPending {
		t.Fatalf("status %q, want pending", got.Status)
	}
	c.pin(1)
	early := c.mustOpen(info.StreamURL)
	close(blocker.steps)
	early.expect(evStarted)
	s.step(t, "half", 0.5)
	close(s.steps)
	early.expect(progressLine("half", 0.5), `task_completed "done"`, closeCompleted)
	early.expectEOF()

	waitTask(t, a.runner, info.ID)
	late := c.mustOpen(info.StreamURL)
	late.expect(evStarted, progressLine("half", 0.5), `task_completed "done"`, closeCompleted)
	late.expectEOF()
}

// The browser reconnects mid-task through the other replica, and back:
// each stream replays the log so far, then live events; nothing is lost and
// the order is kept.
func TestScaleOutTaskReconnectThroughOtherReplica(t *testing.T) {
	scaleTaskReconnectThroughOtherReplica(t, clusterConfig{})
}

// scaleTaskReconnectThroughOtherReplica runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleTaskReconnectThroughOtherReplica(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW = 2, true
	c := newCluster(t, cc)
	a := c.replicas[0]
	s := newStepper(1)
	info := startTask(t, a.runner, s.fn)

	c.pin(1) // B follows the task of A
	first := c.mustOpen(info.StreamURL)
	first.expect(evStarted)
	s.step(t, "a", 0.1)
	first.expect(progressLine("a", 0.1))
	first.st.Close()
	s.step(t, "b", 0.2) // while no stream is open

	c.pin(0) // the owner itself
	second := c.mustOpen(info.StreamURL)
	second.expect(evStarted, progressLine("b", 0.2))
	s.step(t, "c", 0.3)
	second.expect(progressLine("c", 0.3))
	second.st.Close()

	c.pin(1) // B again, a new follower
	third := c.mustOpen(info.StreamURL)
	third.expect(evStarted, progressLine("c", 0.3))
	s.step(t, "d", 0.4)
	third.expect(progressLine("d", 0.4))
	close(s.steps)
	third.expect(`task_completed 1`, closeCompleted)
	third.expectEOF()
}

// A stream for a task that no replica holds gets the not-found events and
// ends.
func TestScaleOutTaskUnknown(t *testing.T) {
	scaleTaskUnknown(t, clusterConfig{})
}

// scaleTaskUnknown runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleTaskUnknown(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW = 2, true
	cc.taskOpts = []task.Option{task.WithLease(100*time.Millisecond, time.Second)}
	c := newCluster(t, cc)
	c.pin(1)
	st := c.mustOpen("/api/sse/tasks?task_id=01234567-89ab-4cde-8f01-23456789abcd")
	st.expect(`task_failed {"error":"task not found","code":"TASK_NOT_FOUND"}`, `connection_close {"reason":"task_not_found"}`)
	st.expectEOF()
}

// Cancel on a replica that does not hold the task reaches its owner.
func TestScaleOutTaskCancelThroughOtherReplica(t *testing.T) {
	scaleTaskCancelThroughOtherReplica(t, clusterConfig{})
}

// scaleTaskCancelThroughOtherReplica runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleTaskCancelThroughOtherReplica(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW = 2, true
	c := newCluster(t, cc)
	a, b := c.replicas[0], c.replicas[1]
	s := newStepper(nil)
	info := startTask(t, a.runner, s.fn)
	c.pin(1)
	st := c.mustOpen(info.StreamURL)
	st.expect(evStarted)
	if err := b.runner.Cancel(info.ID); err != nil {
		t.Fatalf("Cancel on B: %v", err)
	}
	st.expect(`task_failed {"error":"task cancelled","code":"CANCELLED"}`, `connection_close {"reason":"task_cancelled"}`)
	st.expectEOF()
	if err := b.runner.Cancel("01234567-89ab-4cde-8f01-23456789abcd"); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("Cancel of an unknown task on B: %v, want ErrNotFound", err)
	}
}

// 100 tasks over 3 replicas, each followed by a browser that reconnects at
// random through any replica: every final stream starts with task_started,
// has one terminal event then connection_close, and its progress never
// goes down.
func TestScaleOutTaskStress(t *testing.T) {
	tasks := 100
	if testing.Short() {
		tasks = 20
	}
	scaleTaskStress(t, clusterConfig{}, tasks)
}

// scaleTaskStress runs the scenario with the given number of tasks on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleTaskStress(t *testing.T, cc clusterConfig, tasks int) {
	cc.replicas, cc.amqpGW = 3, true
	cc.taskOpts = []task.Option{task.WithWorkers(8)}
	c := newCluster(t, cc)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	slots := make(chan struct{}, 24)
	var wg sync.WaitGroup
	for i := range tasks {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			gate := make(chan struct{})
			owner := c.replicas[rng.IntN(len(c.replicas))]
			info, err := owner.runner.Start(context.Background(), func(ctx context.Context, p *task.Progress) (any, error) {
				for j := 1; j <= 5; j++ {
					p.Report(fmt.Sprintf("s%02d", j), float64(j)/10)
				}
				select {
				case <-gate:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				for j := 6; j <= 10; j++ {
					p.Report(fmt.Sprintf("s%02d", j), float64(j)/10)
				}
				return i, nil
			})
			if err != nil {
				t.Errorf("task %d: Start: %v", i, err)
				return
			}
			if err := browseScale(c, info.StreamURL, rng, gate, i); err != nil {
				t.Errorf("task %d: %v", i, err)
			}
		})
	}
	wg.Wait()
}

// browseScale plays one browser: up to three streams that read a few
// events and are closed, then a final stream read to its end and checked.
func browseScale(c *cluster, streamURL string, rng *rand.Rand, gate chan struct{}, i int) error {
	rounds := rng.IntN(4)
	releaseAt := rng.IntN(rounds + 1)
	openGate := sync.OnceFunc(func() { close(gate) })
	defer openGate()
	for round := range rounds {
		if round == releaseAt {
			openGate()
		}
		limit := 2
		if round >= releaseAt {
			limit = 6
		}
		st, err := c.open(streamURL)
		if err != nil {
			return err
		}
		for range rng.IntN(limit + 1) {
			if _, err := st.next(); err != nil {
				break
			}
		}
		st.st.Close()
	}
	openGate()
	final, err := c.open(streamURL)
	if err != nil {
		return err
	}
	view, err := final.all()
	if err != nil {
		return err
	}
	return checkFinal(fmt.Sprint(i), view)
}

// A replica killed mid-task (its broker connection cut for good, so the
// broker deletes its queue): the browser, served by another replica, is
// told within the lease bound.
func TestScaleOutTaskOwnerKilled(t *testing.T) {
	scaleTaskOwnerKilled(t, clusterConfig{})
}

// scaleTaskOwnerKilled runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleTaskOwnerKilled(t *testing.T, cc clusterConfig) {
	const interval, timeout = 200 * time.Millisecond, time.Second
	cc.replicas, cc.amqpGW = 2, true
	cc.taskOpts = []task.Option{task.WithLease(interval, timeout)}
	c := newCluster(t, cc)
	a := c.replicas[0]
	s := newStepper(nil)
	info := startTask(t, a.runner, s.fn)
	c.pin(1)
	st := c.mustOpen(info.StreamURL)
	st.expect(evStarted)
	s.step(t, "a", 0.5)
	st.expect(progressLine("a", 0.5))

	killed := time.Now()
	a.proxy.Cut() // never restored: replica A is gone for the broker
	st.expect(`task_failed {"error":"task lost: its replica stopped","code":"TASK_LOST"}`,
		`connection_close {"reason":"task_failed"}`)
	took := time.Since(killed)
	st.expectEOF()
	// The documented bound is timeout + interval after the last answer,
	// which came before the cut; allow for the send to the gateway.
	if bound := timeout + interval + 500*time.Millisecond; took > bound {
		t.Errorf("browser told after %v, want at most %v", took, bound)
	}
	t.Logf("browser told %v after the owner was cut", took)
}

// The broker connection of every replica is cut mid-task and restored
// (a broker restart, as the replicas see it): nothing is lost; the browser
// sees the whole lifecycle.
func TestScaleOutTaskBrokerRestart(t *testing.T) {
	c := newCluster(t, clusterConfig{replicas: 2, sharedBus: true,
		taskOpts: []task.Option{task.WithLease(200*time.Millisecond, 2*time.Second)}})
	a, b := c.replicas[0], c.replicas[1]
	s := newStepper("ok")
	info := startTask(t, a.runner, s.fn)
	c.pin(1)
	st := c.mustOpen(info.StreamURL)
	st.expect(evStarted)
	s.step(t, "before", 0.2)
	st.expect(progressLine("before", 0.2))

	a.proxy.Cut()
	s.step(t, "during", 0.5) // its state cannot be published
	a.proxy.Restore()
	waitFor(t, "both buses reconnected", func() bool { return a.bus.Connected() && b.bus.Connected() })
	st.expect(progressLine("during", 0.5))
	s.step(t, "after", 0.8)
	close(s.steps)
	view, err := st.all()
	if err != nil {
		t.Fatal(err)
	}
	// Progress may coalesce; the end may not be lost.
	if err := checkFinal(`"ok"`, append([]string{evStarted}, view...)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(view, "\n"), `task_completed "ok"`) {
		t.Fatalf("view %q", view)
	}
}

// waitFor polls cond until it holds or scaleTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(scaleTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
