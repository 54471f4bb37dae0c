package realgw_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

// taskEvents turns a task stream's events into "event_type data" lines,
// unwrapping generation 2's envelope, checking each event's name and task
// id on the way. Timestamps are left out.
func taskEvents(t *testing.T, gen int, id string, evs []gatewaytest.Event) []string {
	t.Helper()
	var out []string
	for _, ev := range evs {
		ev = ev.Unwrap()
		if ev.Name == "ready" && gen >= 2 {
			out = append(out, "ready")
			continue
		}
		if ev.Name != task.EventName {
			t.Fatalf("event %q, want %q", ev.Name, task.EventName)
		}
		m := decode[task.Message](t, ev.Data)
		if m.TaskID != id {
			t.Fatalf("task_id %q, want %q", m.TaskID, id)
		}
		out = append(out, m.EventType+" "+compact(t, m.Data))
	}
	return out
}

// compact returns raw JSON without insignificant space.
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("data %s: %v", raw, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRealGatewayTask follows tasks through the reference gateway: the whole
// lifecycle, a browser that arrives after the end, one that reconnects
// mid-task, and an unknown task.
func TestRealGatewayTask(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		b := newBackend(t, dir, gen, backendConfig{})
		ctx := context.Background()
		readyLines := func() []string {
			if gen >= 2 {
				return []string{"ready"}
			}
			return nil
		}

		// start runs a task that reports progress each time step is
		// signalled and finishes with a result after the last step.
		// start returns once the task runs, so that task_started is in its
		// log.
		start := func(t *testing.T, steps int) (task.Info, chan<- struct{}) {
			step, running := make(chan struct{}), make(chan struct{})
			info, err := b.runner.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
				close(running)
				for i := range steps {
					select {
					case <-step:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
					p.Report("step", float64(i+1)/float64(steps))
				}
				return map[string]string{"file": "report.pdf"}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			<-running
			return info, step
		}

		t.Run("lifecycle", func(t *testing.T) {
			info, step := start(t, 2)
			st := b.open(t, info.StreamURL)
			// What happened before the stream opened is replayed, before
			// generation 2's ready.
			first := taskEvents(t, gen, info.ID, next(t, st, 1+len(readyLines())))
			want := append([]string{"task_started {}"}, readyLines()...)
			if diff := cmp.Diff(want, first); diff != "" {
				t.Fatalf("start (-want +got):\n%s", diff)
			}
			step <- struct{}{}
			if diff := cmp.Diff([]string{`progress_update {"text":"step","value":0.5}`}, taskEvents(t, gen, info.ID, next(t, st, 1))); diff != "" {
				t.Fatalf("progress (-want +got):\n%s", diff)
			}
			step <- struct{}{}
			wantEnd := []string{
				`progress_update {"text":"step","value":1}`,
				`task_completed {"file":"report.pdf"}`,
				`connection_close {"reason":"task_completed"}`,
			}
			if diff := cmp.Diff(wantEnd, taskEvents(t, gen, info.ID, rest(t, st))); diff != "" {
				t.Fatalf("end (-want +got):\n%s", diff)
			}
		})

		t.Run("late_browser", func(t *testing.T) {
			info, step := start(t, 1)
			step <- struct{}{}
			if _, err := b.runner.Wait(ctx, info.ID); err != nil {
				t.Fatal(err)
			}
			st := b.open(t, info.StreamURL)
			want := []string{
				"task_started {}",
				`progress_update {"text":"step","value":1}`,
				`task_completed {"file":"report.pdf"}`,
				`connection_close {"reason":"task_completed"}`,
			}
			if diff := cmp.Diff(want, taskEvents(t, gen, info.ID, rest(t, st))); diff != "" {
				t.Fatalf("late browser (-want +got):\n%s", diff)
			}
		})

		t.Run("reconnect", func(t *testing.T) {
			info, step := start(t, 2)
			first := b.open(t, info.StreamURL)
			step <- struct{}{}
			// Read up to the first progress report, then go away.
			for {
				lines := taskEvents(t, gen, info.ID, next(t, first, 1))
				if lines[0] == `progress_update {"text":"step","value":0.5}` {
					break
				}
			}
			first.Close()
			again := b.open(t, info.StreamURL)
			want := []string{"task_started {}", `progress_update {"text":"step","value":0.5}`}
			want = append(want, readyLines()...)
			if diff := cmp.Diff(want, taskEvents(t, gen, info.ID, next(t, again, len(want)))); diff != "" {
				t.Fatalf("replay on reconnect (-want +got):\n%s", diff)
			}
			step <- struct{}{}
			wantEnd := []string{
				`progress_update {"text":"step","value":1}`,
				`task_completed {"file":"report.pdf"}`,
				`connection_close {"reason":"task_completed"}`,
			}
			if diff := cmp.Diff(wantEnd, taskEvents(t, gen, info.ID, rest(t, again))); diff != "" {
				t.Fatalf("after reconnect (-want +got):\n%s", diff)
			}
		})

		t.Run("unknown_task", func(t *testing.T) {
			st := b.open(t, "/api/sse/tasks?task_id=00000000-0000-4000-8000-000000000000")
			want := []string{
				`task_failed {"code":"TASK_NOT_FOUND","error":"task not found"}`,
				`connection_close {"reason":"task_not_found"}`,
			}
			if diff := cmp.Diff(want, taskEvents(t, gen, "00000000-0000-4000-8000-000000000000", rest(t, st))); diff != "" {
				t.Fatalf("unknown task (-want +got):\n%s", diff)
			}
		})
	})
}
