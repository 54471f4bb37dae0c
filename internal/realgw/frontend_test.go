package realgw_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/task"
)

// frontendClock is a clock that the test moves forward.
type frontendClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *frontendClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *frontendClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// frontendStack starts a reference gateway of dir's generation in front of
// a backend that runs tasks.
func frontendStack(t *testing.T, dir string, opts ...task.Option) (*realgw.Gateway, *task.Runner) {
	t.Helper()
	var h *callback.Handler
	ready := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ready
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	gw := realgw.Start(t, dir, realgw.Config{CallbackURL: srv.URL + callbackPath + "?secret=" + secret})
	mgr, err := sseconn.New(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, mgr.Shutdown) })
	runner, err := task.New(mgr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, runner.Shutdown) })
	h, err = callback.NewHandler(callback.WithSecret(secret), callback.WithRoute(runner.Matcher(), runner))
	if err != nil {
		t.Fatal(err)
	}
	close(ready)
	return gw, runner
}

// TestFrontendPageEndings follows tasks with the generation-1 page (see
// internal/frontendtest) through the reference gateway of each generation:
// for every way a task's stream ends, the page stops within 2 connects with
// a message to show, and a reload shows the same.
func TestFrontendPageEndings(t *testing.T) {
	const retention = time.Minute
	start := func(t *testing.T, r *task.Runner, fn task.Func, cancel bool) task.Info {
		t.Helper()
		running := make(chan struct{})
		info, err := r.Start(context.Background(), func(ctx context.Context, p *task.Progress) (any, error) {
			close(running)
			return fn(ctx, p)
		})
		if err != nil {
			t.Fatal(err)
		}
		<-running
		if cancel {
			if err := r.Cancel(info.ID); err != nil {
				t.Fatal(err)
			}
		}
		ctx, stop := context.WithTimeout(context.Background(), waitTimeout)
		defer stop()
		if _, err := r.Wait(ctx, info.ID); err != nil {
			t.Fatal(err)
		}
		return info
	}
	blocked := func(ctx context.Context, _ *task.Progress) (any, error) { <-ctx.Done(); return nil, ctx.Err() }
	tests := []struct {
		name  string
		setup func(t *testing.T, r *task.Runner, clock *frontendClock) string
		want  frontendtest.View
		seen  []string
	}{
		{
			name: "completed",
			setup: func(t *testing.T, r *task.Runner, _ *frontendClock) string {
				return start(t, r, func(_ context.Context, p *task.Progress) (any, error) {
					p.Report("half way", 0.5)
					return map[string]string{"file": "report.pdf"}, nil
				}, false).StreamURL
			},
			want: frontendtest.View{Status: "completed", Text: "half way", Value: 0.5,
				Result: json.RawMessage(`{"file":"report.pdf"}`)},
			seen: []string{task.TypeStarted, task.TypeProgress, task.TypeCompleted},
		},
		{
			name: "failed",
			setup: func(t *testing.T, r *task.Runner, _ *frontendClock) string {
				return start(t, r, func(context.Context, *task.Progress) (any, error) {
					return nil, errors.New("disk full")
				}, false).StreamURL
			},
			want: frontendtest.View{Status: "failed", Error: "disk full"},
			seen: []string{task.TypeStarted, task.TypeFailed},
		},
		{
			name: "cancelled",
			setup: func(t *testing.T, r *task.Runner, _ *frontendClock) string {
				return start(t, r, blocked, true).StreamURL
			},
			want: frontendtest.View{Status: "failed", Error: "task cancelled", Code: task.CodeCancelled},
			seen: []string{task.TypeStarted, task.TypeFailed},
		},
		{
			name: "unknown task",
			setup: func(*testing.T, *task.Runner, *frontendClock) string {
				return "/api/sse/tasks?task_id=0b6f1c2e-no-such-task"
			},
			want: frontendtest.View{Status: "failed", Error: "task not found", Code: task.CodeNotFound},
			seen: []string{task.TypeFailed},
		},
		{
			name: "expired task",
			setup: func(t *testing.T, r *task.Runner, clock *frontendClock) string {
				info := start(t, r, func(context.Context, *task.Progress) (any, error) { return 7, nil }, false)
				clock.Advance(retention)
				return info.StreamURL
			},
			want: frontendtest.View{Status: "failed", Error: "task not found", Code: task.CodeNotFound},
			seen: []string{task.TypeFailed},
		},
	}
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				clock := &frontendClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
				gw, runner := frontendStack(t, dir, task.WithClock(clock.Now), task.WithRetention(retention))
				streamURL := tt.setup(t, runner, clock)
				for _, what := range []string{"page", "page after a reload"} {
					page := &frontendtest.Page{Dial: frontendtest.HTTP(gw.URL, nil), StreamURL: streamURL, Envelope: gen == 2, MaxConnects: 5}
					ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
					out, err := page.Run(ctx)
					cancel()
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if out.Connects > 2 {
						t.Errorf("%s connected %d times (answers %q), want at most 2", what, out.Connects, out.Answers)
					}
					got := struct {
						View frontendtest.View
						Seen []string
					}{out.View, out.Seen}
					want := struct {
						View frontendtest.View
						Seen []string
					}{tt.want, tt.seen}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s (-want +got):\n%s", what, diff)
					}
				}
			})
		}
	})
}

// TestFrontendPageSpinsOnTaskCancelled shows, through the reference
// gateway, why task_cancelled is not the default: with WithCancelledEvent
// the generation-1 page reconnects to a cancelled task's stream forever.
func TestFrontendPageSpinsOnTaskCancelled(t *testing.T) {
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		gw, runner := frontendStack(t, dir, task.WithCancelledEvent())
		running := make(chan struct{})
		info, err := runner.Start(context.Background(), func(ctx context.Context, _ *task.Progress) (any, error) {
			close(running)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		<-running
		if err := runner.Cancel(info.ID); err != nil {
			t.Fatal(err)
		}
		page := &frontendtest.Page{Dial: frontendtest.HTTP(gw.URL, nil), StreamURL: info.StreamURL, Envelope: gen == 2, MaxConnects: 3}
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		out, err := page.Run(ctx)
		if !errors.Is(err, frontendtest.ErrStillReconnecting) {
			t.Fatalf("Run: %v, want ErrStillReconnecting", err)
		}
		if diff := cmp.Diff([]string{"200", "200", "200"}, out.Answers); diff != "" || out.Closed || out.View.Status != "running" {
			t.Errorf("answers (-want +got):\n%s; closed %v, view %+v", diff, out.Closed, out.View)
		}
	})
}
