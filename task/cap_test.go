package task_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/task"
)

// TestFault10FinishedTasksBounded checks that the number of finished tasks
// kept is capped, oldest dropped first, besides retention by time (issue
// 12, fault 10).
func TestFault10FinishedTasksBounded(t *testing.T) {
	e := newEnv(t, 2, task.WithMaxFinished(3))
	var ids, urls []string
	for i := range 5 {
		info := start(t, e.runner, func(context.Context, *task.Progress) (any, error) { return i, nil })
		wait(t, e.runner, info.ID)
		ids = append(ids, info.ID)
		urls = append(urls, info.StreamURL)
	}
	var got []string
	for i, id := range ids {
		_, ok := e.runner.Get(id)
		got = append(got, fmt.Sprintf("task %d kept: %v", i, ok))
	}
	want := []string{"task 0 kept: false", "task 1 kept: false", "task 2 kept: true", "task 3 kept: true", "task 4 kept: true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A browser late for a dropped task is told it is gone.
	if diff := cmp.Diff([]string{`task_failed {"error":"task not found","code":"TASK_NOT_FOUND"}`, `connection_close {"reason":"task_not_found"}`}, e.open(t, urls[0]).all()); diff != "" {
		t.Errorf("stream of a dropped task (-want +got):\n%s", diff)
	}
}

// BenchmarkFinishedTaskMemory reports the heap a finished task with a
// small result holds until it is dropped (the figure behind
// DefaultMaxFinished).
func BenchmarkFinishedTaskMemory(b *testing.B) {
	const n = 20_000
	e := newEnv(b, 2, task.WithMaxFinished(n))
	fn := func(context.Context, *task.Progress) (any, error) { return map[string]int{"answer": 42}, nil }
	b.ReportAllocs()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range n {
			info := start(b, e.runner, fn)
			wait(b, e.runner, info.ID)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/task")
	}
}
