package main

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/examples/internal/browser"
	"github.com/ssegate/ssegate/examples/internal/demotest"
)

// TestBrowser loads the page in headless Chromium, waits for the current
// version from the stream, publishes a new one through the page's form and
// watches the banner appear, with a gateway of each generation.
func TestBrowser(t *testing.T) {
	ctx := browser.New(t, 90*time.Second)
	for _, gen := range []string{"2", "1"} {
		t.Run("generation "+gen, func(t *testing.T) {
			defer browser.Screenshot(t, ctx, "version-gen"+gen) // at the end, kept on failure
			backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0", "-generation", gen, "-version", "1.0.0")
			if err := chromedp.Do(ctx, chromedp.Navigate(backend+"/")); err != nil {
				t.Fatal(err)
			}
			// The current version arrived on the stream: the page is
			// connected, and no banner shows for the version it runs.
			_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
				`document.getElementById('latest-version').textContent === '1.0.0' &&
				 document.getElementById('page-version').textContent === '1.0.0' &&
				 document.getElementById('banner').hidden`,
				chromedp.WithPollingTimeout(30*time.Second)))
			if err != nil {
				t.Fatalf("the page did not show the current version: %v", err)
			}

			if err := chromedp.Do(ctx,
				chromedp.SetValue(chromedp.ID("new-version"), "2.0.0"),
				chromedp.SetValue(chromedp.ID("new-changelog"), "Dark mode"),
				chromedp.Click(chromedp.CSS(`#publish button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.ID("banner")),
			); err != nil {
				t.Fatal(err)
			}
			for id, want := range map[string]string{
				"banner-version":   "2.0.0",
				"banner-changelog": "Dark mode",
				"latest-version":   "2.0.0",
				"page-version":     "1.0.0",
			} {
				got, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("#%s = %q, want %q", id, got, want)
				}
			}
			_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](
				`document.getElementById('published').textContent === 'Published 2.0.0 to 1 connected page.'`,
				chromedp.WithPollingTimeout(10*time.Second)))
			if err != nil {
				t.Errorf("the page did not confirm the publication: %v", err)
			}
		})
	}
}
