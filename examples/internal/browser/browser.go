// Package browser starts headless Chromium for the examples' end-to-end
// tests, through chromedp.
//
// The Chromium binary is $SSEGATE_CHROMIUM, or else "chromium" on the PATH
// (Debian's chromium package): the browser suite of internal/testenv. When
// there is none the test is skipped, unless CI=true or
// SSEGATE_REQUIRE_BROWSER=1, where it fails.
//
// # Concurrency
//
// New is called from the test goroutine. Each context it returns drives one
// tab and must be used by one goroutine at a time.
//
// # Errors
//
// Problems are reported through the testing.TB: New fails or skips the test,
// and Screenshot fails it.
package browser

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ssegate/ssegate/internal/testenv"
)

// New starts a headless Chromium with a fresh profile and returns the
// context of a tab, bounded by timeout. The browser is stopped, and waited
// for, by t.Cleanup. When there is no Chromium, [testenv.Require] skips t,
// or fails it where the browser suite is required.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	path := testenv.Require(t, testenv.Browser)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("SSEGATE_CHROMIUM: %v", err)
	}

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		// Cancelling the tab's context closes the browser; cancelling the
		// allocator's then waits for the process and chromedp's goroutines.
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, with no deadline (a deadline on the first run
	// would bound the browser's whole life), so that a missing or broken
	// binary fails here.
	if err := chromedp.Do(tabCtx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	ctx, cancel := context.WithTimeout(tabCtx, timeout)
	t.Cleanup(cancel)
	return ctx
}

// Screenshot saves a full-page PNG of the tab to a new file in the system's
// temporary directory, and returns its path ("" if it could not). The file
// is removed when t ends unless t failed, so that a failure can be looked
// at; its path is then logged. Deferred at the start of a test, it covers
// every way the test can end.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	fail := t.Errorf
	if t.Failed() {
		fail = t.Logf // a diagnostic of a failure must not add failures
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		fail("screenshot: %v", err)
		return ""
	}
	f, err := os.CreateTemp("", "ssegate-"+filepath.Base(name)+"-*.png")
	if err != nil {
		fail("screenshot: %v", err)
		return ""
	}
	defer f.Close()
	if _, err := f.Write(png); err != nil {
		fail("screenshot: %v", err)
	}
	path := f.Name()
	if t.Failed() {
		t.Logf("screenshot kept: %s", path)
		return path
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshot kept: %s", path)
			return
		}
		os.Remove(path)
	})
	return path
}
