package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/examples/internal/browser"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

// generation1Page follows one task the way the generation-1
// ElectronicsInventory page does: one EventSource per task, a task_event
// listener, close() only after task_completed or task_failed, and after an
// error a 1 s timer that reconnects if the EventSource is CLOSED (its
// attempt count is reset by every connect, so it never gives up). What it
// would show is kept in window.view.
const generation1Page = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>generation 1</title></head><body><script>
'use strict';
window.view = { status: '', text: '', error: '', code: '', closed: false };
function connect(url) {
  let attempts = 0;
  const es = new EventSource(url);
  window.es = es;
  es.addEventListener('task_event', (e) => {
    const m = JSON.parse(e.data);
    switch (m.event_type) {
      case 'task_started': view.status = 'running'; break;
      case 'progress_update': view.text = m.data.text; break;
      case 'task_completed': view.status = 'completed'; es.close(); view.closed = true; break;
      case 'task_failed':
        view.status = 'failed'; view.error = m.data.error; view.code = m.data.code || '';
        es.close(); view.closed = true; break;
    }
  });
  es.onerror = () => {
    attempts++;
    setTimeout(() => { if (es.readyState === EventSource.CLOSED && attempts < 3) connect(url); }, 1000);
  };
}
connect(new URLSearchParams(location.search).get('stream'));
</script></body></html>`

// view is what the generation-1 page shows (its window.view).
type view struct {
	Status string `json:"status"`
	Text   string `json:"text"`
	Error  string `json:"error"`
	Code   string `json:"code"`
	Closed bool   `json:"closed"`
}

// countingRunner is the runner's callback service, counting the connects of
// each stream URL and when they happened.
type countingRunner struct {
	*task.Runner
	mu       sync.Mutex // guards connects
	connects map[string][]time.Time
}

func (c *countingRunner) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	c.mu.Lock()
	c.connects[req.URL.String()] = append(c.connects[req.URL.String()], time.Now())
	c.mu.Unlock()
	return c.Runner.Connect(ctx, req)
}

func (c *countingRunner) count(streamURL string) []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.connects[streamURL]...)
}

// TestFrontendBrowserGeneration1Page runs the generation-1 page in headless
// Chromium, with its real EventSource, against a generation-1 gateway: for
// a completed, a cancelled and an unknown task it connects once, shows a
// result or a message, and closes its EventSource (which then never
// reconnects). With task.WithCancelledEvent, the browser reconnects to the
// cancelled task's ended stream by itself, which is why that is not the
// default.
func TestFrontendBrowserGeneration1Page(t *testing.T) {
	ctx := browser.New(t, 90*time.Second)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(generation1Page))
	}))
	t.Cleanup(page.Close)

	tests := []struct {
		name  string
		opts  []task.Option
		setup func(t *testing.T, r *task.Runner) string // returns the stream URL
		want  view
	}{
		{
			name: "completed",
			setup: func(t *testing.T, r *task.Runner) string {
				info := startAndWait(t, r, func(_ context.Context, p *task.Progress) (any, error) {
					p.Report("half way", 0.5)
					return map[string]bool{"success": true}, nil
				}, false)
				return info.StreamURL
			},
			want: view{Status: "completed", Text: "half way", Closed: true},
		},
		{
			name: "cancelled",
			setup: func(t *testing.T, r *task.Runner) string {
				return startAndWait(t, r, blockUntilCancelled, true).StreamURL
			},
			want: view{Status: "failed", Error: "task cancelled", Code: task.CodeCancelled, Closed: true},
		},
		{
			name:  "unknown task",
			setup: func(*testing.T, *task.Runner) string { return "/api/sse/tasks?task_id=no-such-task" },
			want:  view{Status: "failed", Error: "task not found", Code: task.CodeNotFound, Closed: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw, runner := newTaskStack(t, tt.opts...)
			streamURL := tt.setup(t, runner.Runner)
			got := openPage(t, ctx, page.URL, gw.URL+streamURL, "view.closed")
			if got != tt.want {
				t.Errorf("page shows %+v, want %+v", got, tt.want)
			}
			state, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.es.readyState`))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(runner.count(streamURL)); n != 1 || state != 2 {
				t.Errorf("%d connects, EventSource readyState %d; want 1 connect and CLOSED (2)", n, state)
			}
		})
	}

	t.Run("cancelled, WithCancelledEvent", func(t *testing.T) {
		gw, runner := newTaskStack(t, task.WithCancelledEvent())
		streamURL := startAndWait(t, runner.Runner, blockUntilCancelled, true).StreamURL
		openPage(t, ctx, page.URL, gw.URL+streamURL, "")
		// The stream ends after task_cancelled, which the page ignores; the
		// browser reconnects by itself, gets the replay, and so on.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := waitConnects(wctx, runner, streamURL, 3); err != nil {
			t.Fatalf("%v: %d connects; want the browser to keep reconnecting", err, len(runner.count(streamURL)))
		}
		at := runner.count(streamURL)
		t.Logf("Chromium reconnected to the ended stream after %v, then %v",
			at[1].Sub(at[0]).Round(10*time.Millisecond), at[2].Sub(at[1]).Round(10*time.Millisecond))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`window.es.close()`)); err != nil {
			t.Fatal(err)
		}
	})
}

// waitConnects polls, with a deadline, until streamURL has had n connects.
func waitConnects(ctx context.Context, r *countingRunner, streamURL string, n int) error {
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for len(r.count(streamURL)) < n {
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d connects: %w", n, ctx.Err())
		}
	}
	return nil
}

// openPage opens the generation-1 page on streamURL and, unless until is
// empty, waits until the JavaScript condition until holds and returns the
// page's view.
func openPage(t *testing.T, ctx context.Context, pageURL, streamURL, until string) view {
	t.Helper()
	var v view
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL+"/?stream="+url.QueryEscape(streamURL))); err != nil {
		t.Fatal(err)
	}
	if until == "" {
		return v
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](until, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		view, _ := chromedp.Run(ctx, chromedp.Evaluate[any](`window.view`))
		t.Fatalf("the page did not stop: %v (view %v)", err, view)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[view](`window.view`))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// blockUntilCancelled is a task that runs until it is cancelled.
func blockUntilCancelled(ctx context.Context, _ *task.Progress) (any, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// startAndWait starts fn, cancels it once it runs if cancel is set, and
// waits until it has finished.
func startAndWait(t *testing.T, r *task.Runner, fn task.Func, cancel bool) task.Info {
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
	wctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	if _, err := r.Wait(wctx, info.ID); err != nil {
		t.Fatal(err)
	}
	return info
}

// newTaskStack starts a generation-1 gateway that browsers of any origin
// may use, and a backend with a task runner behind it.
func newTaskStack(t *testing.T, opts ...task.Option) (*gatewaytest.Server, *countingRunner) {
	t.Helper()
	const secret = "s3cr3t"
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret="+secret,
		gatewaytest.WithGeneration(1), gatewaytest.WithCORS("*"))
	conns, err := sseconn.New(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	r, err := task.New(conns, opts...)
	if err != nil {
		t.Fatal(err)
	}
	runner := &countingRunner{Runner: r, connects: make(map[string][]time.Time)}
	cb, err := callback.NewHandler(callback.WithSecret(secret), callback.WithRoute(r.Matcher(), runner))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /api/sse/callback", cb)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
		_ = cb.Shutdown(ctx)
		gw.Close()
		_ = conns.Shutdown(ctx)
		backend.Close()
	})
	return gw, runner
}
