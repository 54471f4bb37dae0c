// Package demotest runs an example program's run function inside a test and
// watches what it prints.
//
// # Concurrency
//
// An Output may be written and read from any goroutine. Serve starts one
// goroutine, the program, and its cleanup waits for it.
//
// # Errors
//
// Problems are reported through the testing.TB.
package demotest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// RunFunc is the signature of the examples' run functions.
type RunFunc func(ctx context.Context, args []string, stdout io.Writer) error

// Output collects what a program prints and lets a test wait for a line.
type Output struct {
	mu      sync.Mutex    // guards buf and changed
	buf     bytes.Buffer  // everything written so far
	changed chan struct{} // closed at the next write
}

// Write implements io.Writer.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
	return n, err
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Lines returns the complete lines written so far.
func (o *Output) Lines() []string {
	s := o.String()
	i := strings.LastIndexByte(s, '\n')
	if i < 0 {
		return nil
	}
	return strings.Split(s[:i], "\n")
}

// WaitLine waits until a complete line starting with prefix has been
// written, and returns it without the prefix and trimmed of spaces.
func (o *Output) WaitLine(ctx context.Context, prefix string) (string, error) {
	for {
		o.mu.Lock()
		s := o.buf.String()
		if o.changed == nil {
			o.changed = make(chan struct{})
		}
		changed := o.changed
		o.mu.Unlock()

		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			for line := range strings.SplitSeq(s[:i], "\n") {
				if rest, ok := strings.CutPrefix(line, prefix); ok {
					return strings.TrimSpace(rest), nil
				}
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for a line %q: %w; output so far:\n%s", prefix, ctx.Err(), s)
		}
	}
}

// Serve runs run with args, as the program's server mode, until the test
// ends, and returns the address it prints on its "open" line (the page's
// URL, without the trailing slash) and its output. The cleanup cancels the
// program's context, as SIGINT does, and fails the test unless run then
// returns nil within 15 s.
func Serve(t testing.TB, run RunFunc, args ...string) (string, *Output) {
	t.Helper()
	out := &Output{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v after the context was cancelled; output:\n%s", err, out)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("run did not return within 15 s of cancelling its context; output:\n%s", out)
		}
	})

	wctx, wcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer wcancel()
	var line string
	var err error
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		line, err = out.WaitLine(wctx, "open ")
	}()
	select {
	case <-waited:
	case err := <-done:
		done <- err // for the cleanup
		wcancel()
		<-waited
		t.Fatalf("run returned early: %v; output:\n%s", err, out)
	}
	if err != nil {
		t.Fatal(err)
	}
	url, _, _ := strings.Cut(line, " ")
	return strings.TrimSuffix(url, "/"), out
}

// ExternalGateway starts a gateway for a program that runs with -gateway,
// as against a real gateway: the gateway calls the CALLBACK_URL that the
// program prints on out. Since the gateway needs its callback URL before
// the program has chosen its port, it calls a proxy that waits for that
// line and forwards there. The secret is the one the program is given with
// -secret. Both are closed by t.Cleanup.
func ExternalGateway(t testing.TB, out *Output, secret string, opts ...gatewaytest.Option) *gatewaytest.Server {
	t.Helper()
	tr := &http.Transport{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		line, err := out.WaitLine(r.Context(), "  CALLBACK_URL=")
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		target, err := url.Parse(line)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		rp := &httputil.ReverseProxy{Transport: tr, Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
		}}
		rp.ServeHTTP(w, r)
	}))
	gw := gatewaytest.NewServer(proxy.URL+"/api/sse/callback?secret="+url.QueryEscape(secret), opts...)
	t.Cleanup(func() {
		gw.Close()
		proxy.Close()
		tr.CloseIdleConnections()
	})
	return gw
}
