package task_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/task"
)

// settableClock is a clock that tests move forward.
type settableClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *settableClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// pageSeen is what a page follows: the events it received and what it
// shows at the end.
type pageSeen struct {
	Seen   []string
	View   frontendtest.View
	Closed bool
}

// TestFrontendPageEndings follows tasks with the generation-1 page
// (FRONTEND: it closes only on task_completed or task_failed, and otherwise
// reconnects forever), on both gateway generations, for every way a task's
// stream ends: the page stops within 2 connects, with a message to show,
// and a reload afterwards shows the same.
func TestFrontendPageEndings(t *testing.T) {
	const retention = time.Minute
	tests := []struct {
		name string
		opts []task.Option
		// setup starts what the page follows and returns its stream URL and
		// what happens when the page's stream opens.
		setup func(t *testing.T, e *env, clock *settableClock) (streamURL string, onOpen func())
		want  pageSeen
	}{
		{
			name: "completed, followed live",
			setup: func(t *testing.T, e *env, _ *settableClock) (string, func()) {
				s := newStepper(map[string]string{"file": "report.pdf"})
				info := start(t, e.runner, s.fn)
				return info.StreamURL, func() {
					s.step(t, "half way", 0.5)
					close(s.steps)
				}
			},
			want: pageSeen{
				Seen: []string{task.TypeStarted, task.TypeProgress, task.TypeCompleted},
				View: frontendtest.View{Status: "completed", Text: "half way", Value: 0.5,
					Result: json.RawMessage(`{"file":"report.pdf"}`)},
				Closed: true,
			},
		},
		{
			name: "failed",
			setup: func(t *testing.T, e *env, _ *settableClock) (string, func()) {
				info := start(t, e.runner, func(context.Context, *task.Progress) (any, error) {
					return nil, errors.New("disk full")
				})
				wait(t, e.runner, info.ID)
				return info.StreamURL, nil
			},
			want: pageSeen{
				Seen:   []string{task.TypeStarted, task.TypeFailed},
				View:   frontendtest.View{Status: "failed", Error: "disk full"},
				Closed: true,
			},
		},
		{
			name: "cancelled while the page follows",
			setup: func(t *testing.T, e *env, _ *settableClock) (string, func()) {
				info, running := startBlocked(t, e.runner)
				<-running
				return info.StreamURL, func() {
					if err := e.runner.Cancel(info.ID); err != nil {
						t.Error(err)
					}
				}
			},
			want: pageSeen{
				Seen:   []string{task.TypeStarted, task.TypeFailed},
				View:   frontendtest.View{Status: "failed", Error: "task cancelled", Code: task.CodeCancelled},
				Closed: true,
			},
		},
		{
			name: "cancelled before it ran",
			opts: []task.Option{task.WithWorkers(1)},
			setup: func(t *testing.T, e *env, _ *settableClock) (string, func()) {
				_, running := startBlocked(t, e.runner) // takes the only worker
				<-running
				info, _ := startBlocked(t, e.runner)
				if err := e.runner.Cancel(info.ID); err != nil {
					t.Fatal(err)
				}
				return info.StreamURL, nil
			},
			want: pageSeen{
				Seen:   []string{task.TypeFailed},
				View:   frontendtest.View{Status: "failed", Error: "task cancelled", Code: task.CodeCancelled},
				Closed: true,
			},
		},
		{
			name: "unknown task",
			setup: func(*testing.T, *env, *settableClock) (string, func()) {
				return "/api/sse/tasks?task_id=0b6f1c2e-no-such-task", nil
			},
			want: pageSeen{
				Seen:   []string{task.TypeFailed},
				View:   frontendtest.View{Status: "failed", Error: "task not found", Code: task.CodeNotFound},
				Closed: true,
			},
		},
		{
			name: "expired task",
			setup: func(t *testing.T, e *env, clock *settableClock) (string, func()) {
				info := start(t, e.runner, func(context.Context, *task.Progress) (any, error) { return 7, nil })
				wait(t, e.runner, info.ID)
				clock.Advance(retention)
				return info.StreamURL, nil
			},
			want: pageSeen{
				Seen:   []string{task.TypeFailed},
				View:   frontendtest.View{Status: "failed", Error: "task not found", Code: task.CodeNotFound},
				Closed: true,
			},
		},
	}
	for _, gen := range generations {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("generation %d/%s", gen, tt.name), func(t *testing.T) {
				clock := &settableClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
				opts := append([]task.Option{task.WithClock(clock.Now), task.WithRetention(retention)}, tt.opts...)
				e := newEnv(t, gen, opts...)
				streamURL, onOpen := tt.setup(t, e, clock)

				page := &frontendtest.Page{
					Dial:        frontendtest.Gateway(e.gw, nil),
					StreamURL:   streamURL,
					Envelope:    gen == 2,
					MaxConnects: 5,
				}
				if onOpen != nil {
					page.OnOpen = func(n int) {
						if n == 1 {
							onOpen()
						}
					}
				}
				out := runPage(t, page)
				if out.Connects > 2 {
					t.Errorf("page connected %d times (answers %q), want at most 2", out.Connects, out.Answers)
				}
				if diff := cmp.Diff(tt.want, pageSeen{Seen: out.Seen, View: out.View, Closed: out.Closed}); diff != "" {
					t.Errorf("page (-want +got):\n%s", diff)
				}

				// A reload after the end shows the same.
				reload := &frontendtest.Page{Dial: page.Dial, StreamURL: streamURL, Envelope: page.Envelope, MaxConnects: 5}
				again := runPage(t, reload)
				if diff := cmp.Diff(tt.want.View, again.View); diff != "" {
					t.Errorf("page after a reload (-want +got):\n%s", diff)
				}
				if again.Connects != 1 {
					t.Errorf("reloaded page connected %d times (answers %q), want 1", again.Connects, again.Answers)
				}
			})
		}
	}
}

// TestFrontendPageSpinsOnTaskCancelled shows why task_cancelled is not the
// default: with WithCancelledEvent, the generation-1 page never stops
// reconnecting to a cancelled task's stream; each connect replays
// task_cancelled and ends the stream, and the browser connects again.
func TestFrontendPageSpinsOnTaskCancelled(t *testing.T) {
	for _, gen := range generations {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			e := newEnv(t, gen, task.WithCancelledEvent(), task.WithWorkers(1))
			_, running := startBlocked(t, e.runner)
			<-running
			info, _ := startBlocked(t, e.runner)
			if err := e.runner.Cancel(info.ID); err != nil {
				t.Fatal(err)
			}
			const connects = 4
			page := &frontendtest.Page{
				Dial:        frontendtest.Gateway(e.gw, nil),
				StreamURL:   info.StreamURL,
				Envelope:    gen == 2,
				MaxConnects: connects,
			}
			ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
			defer cancel()
			out, err := page.Run(ctx)
			if !errors.Is(err, frontendtest.ErrStillReconnecting) {
				t.Fatalf("Run: %v, want ErrStillReconnecting", err)
			}
			browserRetry := frontendtest.TestDelays().BrowserRetry
			want := frontendtest.Outcome{
				Connects: connects,
				Answers:  []string{"200", "200", "200", "200"},
				Seen: []string{
					task.TypeCancelled, task.TypeClose, task.TypeCancelled, task.TypeClose,
					task.TypeCancelled, task.TypeClose, task.TypeCancelled, task.TypeClose,
				},
				Waits: []time.Duration{browserRetry, browserRetry, browserRetry},
			}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("page (-want +got):\n%s", diff)
			}
		})
	}
}

// startBlocked starts a task that runs until it is cancelled. running is
// closed once it runs.
func startBlocked(t *testing.T, r *task.Runner) (task.Info, <-chan struct{}) {
	t.Helper()
	running := make(chan struct{})
	info := start(t, r, func(ctx context.Context, _ *task.Progress) (any, error) {
		close(running)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	return info, running
}

// runPage runs page to its end and fails the test if it does not stop.
func runPage(t *testing.T, page *frontendtest.Page) frontendtest.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	out, err := page.Run(ctx)
	if err != nil {
		t.Fatalf("page: %v", err)
	}
	return out
}
