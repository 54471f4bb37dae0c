package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/examples/internal/browser"
	"github.com/ssegate/ssegate/examples/internal/demotest"
	"github.com/ssegate/ssegate/task"
)

// TestBrowser loads the page in headless Chromium, presses Start and watches
// the progress bar reach 100 % and the result appear, with a gateway of each
// generation.
func TestBrowser(t *testing.T) {
	ctx := browser.New(t, 90*time.Second)
	for _, gen := range []string{"2", "1"} {
		t.Run("generation "+gen, func(t *testing.T) {
			defer browser.Screenshot(t, ctx, "tasks-gen"+gen) // at the end, kept on failure
			backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0", "-generation", gen,
				"-steps", "5", "-step-delay", "40ms")
			if err := chromedp.Do(ctx,
				chromedp.Navigate(backend+"/"),
				chromedp.WaitVisible(chromedp.ID("start")),
				chromedp.Click(chromedp.ID("start")),
			); err != nil {
				t.Fatal(err)
			}
			// The bar reaches 100 %, then the result shows.
			_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
				`document.getElementById('progress').getAttribute('aria-valuenow') === '100'`,
				chromedp.WithPollingTimeout(30*time.Second)))
			if err != nil {
				t.Fatalf("the progress bar did not reach 100%%: %v", err)
			}
			if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("result"))); err != nil {
				t.Fatal(err)
			}
			resultText, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result-json")))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(resultText, `"All 5 steps done"`) {
				t.Errorf("result = %q, want the demo task's result", resultText)
			}
			// The page closed the stream after connection_close, so it does
			// not reconnect and replay; the Start button is back.
			_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
				`document.getElementById('stream').textContent === 'stream closed: task_completed' &&
				 !document.getElementById('start').disabled &&
				 document.getElementById('status').textContent === 'completed'`,
				chromedp.WithPollingTimeout(10*time.Second)))
			if err != nil {
				t.Errorf("the page did not settle after completion: %v", err)
			}

			// The event log the page kept: the same lifecycle as on the wire.
			logged, err := chromedp.Run(ctx, chromedp.Evaluate[[][2]string](
				`[...document.querySelectorAll('#log li')].map(li => [li.dataset.type, li.querySelector('code').textContent])`))
			if err != nil {
				t.Fatal(err)
			}
			var evs []event
			for _, l := range logged {
				evs = append(evs, event{Type: l[0], Data: l[1]})
			}
			checkLifecycle(t, evs, 5)
			if len(evs) == 0 || evs[0].Type != task.TypeStarted {
				t.Errorf("page log = %v", evs)
			}
		})
	}
}

// TestBrowserCancel presses Cancel while a task runs: the page shows the
// task as cancelled (task_failed with code CANCELLED) and closes its stream.
func TestBrowserCancel(t *testing.T) {
	ctx := browser.New(t, 90*time.Second)
	defer browser.Screenshot(t, ctx, "tasks-cancel") // at the end, kept on failure
	backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0", "-generation", "1",
		"-steps", "100", "-step-delay", "200ms")
	if err := chromedp.Do(ctx,
		chromedp.Navigate(backend+"/"),
		chromedp.WaitVisible(chromedp.ID("start")),
		chromedp.Click(chromedp.ID("start")),
	); err != nil {
		t.Fatal(err)
	}
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`document.getElementById('status').textContent === 'running' && !document.getElementById('cancel').disabled`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("the task did not start: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("cancel"))); err != nil {
		t.Fatal(err)
	}
	_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
		`document.getElementById('status').textContent === 'cancelled' &&
		 document.getElementById('stream').textContent === 'stream closed: task_cancelled' &&
		 document.getElementById('error').hidden &&
		 !document.getElementById('start').disabled`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("the page did not show the cancellation: %v (status %q)", err, status)
	}
}
