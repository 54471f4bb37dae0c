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
	"github.com/ssegate/ssegate/version"
)

// generation2Worker keeps one stream for its tab the way the generation-2
// ElectronicsInventory worker does: one EventSource at
// /api/sse/stream?request_id=<tab>, every message read in onmessage as an
// envelope {type, payload}, a named connection_close that closes it for
// good, and after an error a new EventSource after 1 s, doubling up to
// 60 s, reset by onopen. What it received is kept in window.state.
const generation2Worker = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>generation 2</title></head><body><script>
'use strict';
const q = new URLSearchParams(location.search);
window.state = { opens: 0, errors: 0, versions: [], closed: false };
let es = null, retry = 0, timer = null;
function connect() {
  if (es) es.close();
  es = new EventSource(q.get('gateway') + '/api/sse/stream?request_id=' + encodeURIComponent(q.get('tab')));
  es.onopen = () => { state.opens++; retry = 0; };
  es.onmessage = (e) => {
    let v;
    try { v = JSON.parse(e.data); } catch { return; }
    if (v && v.type === 'version') state.versions.push(v.payload.version);
  };
  es.addEventListener('connection_close', () => { state.closed = true; es.close(); clearTimeout(timer); });
  es.onerror = () => {
    state.errors++;
    retry++;
    clearTimeout(timer);
    timer = setTimeout(connect, Math.min(1000 * 2 ** (retry - 1), 60000));
  };
}
connect();
</script></body></html>`

// workerState is the generation-2 worker's window.state.
type workerState struct {
	Opens    int      `json:"opens"`
	Errors   int      `json:"errors"`
	Versions []string `json:"versions"`
	Closed   bool     `json:"closed"`
}

// counting is a callback.Service that counts connects and passes them on,
// or rejects them with 400 when next is nil (as a backend with no route for
// the tab stream does).
type counting struct {
	next     callback.Service
	mu       sync.Mutex // guards connects
	connects []time.Time
}

func (c *counting) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	c.mu.Lock()
	c.connects = append(c.connects, time.Now())
	c.mu.Unlock()
	if c.next == nil {
		return nil, callback.Reject(http.StatusBadRequest, "no route for the tab stream")
	}
	return c.next.Connect(ctx, req)
}

func (c *counting) Disconnect(ctx context.Context, req *callback.Request) error {
	if c.next == nil {
		return nil
	}
	return c.next.Disconnect(ctx, req)
}

func (c *counting) times() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.connects...)
}

// TestFrontendBrowserGeneration2Worker runs the generation-2 worker in
// headless Chromium, with its real EventSource, against a generation-2
// gateway. With version.WithPath on the tab stream's route it gets the
// current version and a notification on one stream. When the tab stream is
// rejected, Chromium fires onopen for the 200 answer that carries the
// "rejected" event, so the backoff is reset and the worker reconnects
// every second for as long as the tab is open.
func TestFrontendBrowserGeneration2Worker(t *testing.T) {
	ctx := browser.New(t, 90*time.Second)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(generation2Worker))
	}))
	t.Cleanup(page.Close)
	open := func(t *testing.T, gw *gatewaytest.Server, tab string) {
		t.Helper()
		u := page.URL + "/?" + url.Values{"gateway": {gw.URL}, "tab": {tab}}.Encode()
		if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
			t.Fatal(err)
		}
	}
	poll := func(t *testing.T, cond string) workerState {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			st, _ := chromedp.Run(ctx, chromedp.Evaluate[any](`window.state`))
			t.Fatalf("waiting for %s: %v (state %v)", cond, err, st)
		}
		st, err := chromedp.Run(ctx, chromedp.Evaluate[workerState](`window.state`))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("version events", func(t *testing.T) {
		svc := &counting{}
		gw, notifier := newWorkerStack(t, svc, true)
		open(t, gw, "tab-1")
		poll(t, `state.versions.length === 1`)
		if _, err := notifier.Notify(t.Context(), "tab-1", version.Info{Version: "1.1.0"}); err != nil {
			t.Fatal(err)
		}
		st := poll(t, `state.versions.length === 2`)
		if fmt.Sprint(st.Versions) != "[1.0.0 1.1.0]" || st.Opens != 1 || st.Errors != 0 || len(svc.times()) != 1 {
			t.Errorf("state %+v after %d connects; want versions [1.0.0 1.1.0] on one open stream", st, len(svc.times()))
		}
	})

	t.Run("rejected stream", func(t *testing.T) {
		svc := &counting{}
		gw, _ := newWorkerStack(t, svc, false)
		open(t, gw, "tab-1")
		st := poll(t, `state.opens >= 3`)
		at := svc.times()
		if st.Errors < 2 || len(st.Versions) != 0 || len(at) < 3 {
			t.Errorf("state %+v after %d connects; want a rejected stream opened and retried", st, len(at))
		}
		t.Logf("Chromium: onopen fired %d times for rejected streams; reconnects after %v, then %v",
			st.Opens, at[1].Sub(at[0]).Round(10*time.Millisecond), at[2].Sub(at[1]).Round(10*time.Millisecond))
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](`clearTimeout(timer), es.close()`)); err != nil {
			t.Fatal(err)
		}
	})
}

// newWorkerStack starts a generation-2 gateway that browsers of any origin
// may use, and a backend whose tab stream route is svc, passing connects
// on to a version notifier on that route if withVersion is set.
func newWorkerStack(t *testing.T, svc *counting, withVersion bool) (*gatewaytest.Server, *version.Notifier) {
	t.Helper()
	const secret = "s3cr3t"
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret="+secret,
		gatewaytest.WithGeneration(2), gatewaytest.WithCORS("*"))
	conns, err := sseconn.New(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	n, err := version.New(conns, version.Static{Version: "1.0.0"}, version.WithPath("/api/sse/stream", "request_id"))
	if err != nil {
		t.Fatal(err)
	}
	if withVersion {
		svc.next = n
	}
	cb, err := callback.NewHandler(callback.WithSecret(secret), callback.WithRoute(n.Matcher(), svc))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("POST /api/sse/callback", cb)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cb.Shutdown(ctx)
		gw.Close()
		_ = conns.Shutdown(ctx)
		backend.Close()
	})
	return gw, n
}
