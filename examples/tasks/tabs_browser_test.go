package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/examples/internal/browser"
	"github.com/ssegate/ssegate/examples/internal/demotest"
	"github.com/ssegate/ssegate/internal/testenv"
)

// TestBrowserTabs loads the page of -streams tab in headless Chromium,
// starts two tasks at once and watches both complete on the tab's one
// stream, which also brought the backend's version, with a gateway of each
// generation and with two replicas in AMQP mode.
func TestBrowserTabs(t *testing.T) {
	ctx := browser.New(t, 90*time.Second)
	tests := []struct {
		name, shot string
		args       []string
		amqp       bool
	}{
		{"generation 2", "tasks-tab-gen2", []string{"-generation", "2"}, false},
		{"generation 1", "tasks-tab-gen1", []string{"-generation", "1"}, false},
		{"two replicas, AMQP mode", "tasks-tab-replicas", []string{"-replicas", "2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-addr", "127.0.0.1:0", "-streams", "tab", "-steps", "5", "-step-delay", "60ms"}, tt.args...)
			if tt.amqp {
				args = append(args, "-amqp", testenv.Require(t, testenv.RabbitMQ))
			}
			defer browser.Screenshot(t, ctx, tt.shot) // at the end, kept on failure
			backend, _ := demotest.Serve(t, run, args...)
			if err := chromedp.Do(ctx,
				chromedp.Navigate(backend+"/"),
				chromedp.WaitVisible(chromedp.ID("start")),
			); err != nil {
				t.Fatal(err)
			}
			// The stream is open and brought the version.
			_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
				`window.streamOpens === 1 && document.getElementById('version').textContent === '`+demoVersion+`'`,
				chromedp.WithPollingTimeout(20*time.Second)))
			if err != nil {
				t.Fatalf("the tab's stream did not open with the version: %v", err)
			}
			if err := chromedp.Do(ctx,
				chromedp.Click(chromedp.ID("start")),
				chromedp.Click(chromedp.ID("start")),
			); err != nil {
				t.Fatal(err)
			}
			// Two tasks, both running at some point, then both completed at
			// 100 %.
			_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
				`(() => { const cs = [...document.querySelectorAll('[data-task]')];
				  return cs.length === 2 && cs.every(c =>
				    c.querySelector('.status').textContent === 'completed' &&
				    c.querySelector('.progress').getAttribute('aria-valuenow') === '100'); })()`,
				chromedp.WithPollingTimeout(30*time.Second)))
			if err != nil {
				t.Fatalf("the two tasks did not complete: %v", err)
			}
			results, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
				`[...document.querySelectorAll('[data-task] .result')].map(r => r.textContent)`))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if !strings.Contains(r, `"All 5 steps done"`) {
					t.Errorf("result = %q, want the demo task's result", r)
				}
			}
			// One stream for both tasks, never closed or reopened.
			opens, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.streamOpens`))
			if err != nil {
				t.Fatal(err)
			}
			if opens != 1 {
				t.Errorf("the page opened %d streams, want 1", opens)
			}
		})
	}
}
