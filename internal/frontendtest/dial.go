package frontendtest

import (
	"context"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// Stream is an open event stream, as an EventSource reads it. Next returns
// the next event, io.EOF once the stream has ended, or another error when
// it broke; either way the EventSource sees an error and the stream is
// over. Close may be called more than once.
type Stream interface {
	Next(ctx context.Context) (gatewaytest.Event, error)
	Close()
}

// Dialer opens the stream at path (path and query, starting with "/") the
// way an EventSource's request does. It returns the answer's HTTP status
// and, for a 200 text/event-stream answer, the open stream; for any other
// answer the stream is nil and the EventSource fails for good (CLOSED). It
// returns an error only when there was no answer at all (a refused TCP
// connection), after which an EventSource keeps reconnecting by itself.
type Dialer func(ctx context.Context, path string) (status int, st Stream, err error)

// Gateway returns a Dialer that opens streams on gw with
// [gatewaytest.Server.Connect], over real loopback HTTP. header is sent with
// every connect, as a browser sends the cookies of a signed-in user; nil
// sends none.
func Gateway(gw *gatewaytest.Server, header http.Header) Dialer {
	return func(ctx context.Context, path string) (int, Stream, error) {
		st, err := gw.Connect(ctx, path, header.Clone())
		if err != nil {
			return 0, nil, err
		}
		mt, _, _ := mime.ParseMediaType(st.Header.Get("Content-Type"))
		if st.StatusCode != http.StatusOK || mt != "text/event-stream" {
			st.Close()
			return st.StatusCode, nil, nil
		}
		return st.StatusCode, st, nil
	}
}

// Delays are the waits of the real clients. A zero field means the field
// of [TestDelays].
type Delays struct {
	// PageRetry is how long the generation-1 page's onerror handler waits
	// before it reconnects a CLOSED EventSource: 1 s.
	PageRetry time.Duration
	// BrowserRetry is how long an EventSource waits before it reconnects
	// by itself after a stream ended or a connect got no answer: about 3 s
	// in Chrome (5 s in Firefox).
	BrowserRetry time.Duration
	// WorkerBackoff is the generation-2 worker's first reconnect delay,
	// doubled after each further error in a row: 1 s.
	WorkerBackoff time.Duration
	// WorkerBackoffMax caps the worker's reconnect delay: 60 s.
	WorkerBackoffMax time.Duration
}

// RealDelays returns the delays of the real clients in a browser.
func RealDelays() Delays {
	return Delays{
		PageRetry:        time.Second,
		BrowserRetry:     3 * time.Second,
		WorkerBackoff:    time.Second,
		WorkerBackoffMax: 60 * time.Second,
	}
}

// TestDelays returns [RealDelays] divided by 1000: 1 ms, 3 ms, 1 ms and
// 60 ms. The ratios between them stay those of the real clients.
func TestDelays() Delays {
	r := RealDelays()
	return Delays{
		PageRetry:        r.PageRetry / 1000,
		BrowserRetry:     r.BrowserRetry / 1000,
		WorkerBackoff:    r.WorkerBackoff / 1000,
		WorkerBackoffMax: r.WorkerBackoffMax / 1000,
	}
}

// resolve returns d with every zero field taken from TestDelays.
func (d Delays) resolve() Delays {
	t := TestDelays()
	if d.PageRetry <= 0 {
		d.PageRetry = t.PageRetry
	}
	if d.BrowserRetry <= 0 {
		d.BrowserRetry = t.BrowserRetry
	}
	if d.WorkerBackoff <= 0 {
		d.WorkerBackoff = t.WorkerBackoff
	}
	if d.WorkerBackoffMax <= 0 {
		d.WorkerBackoffMax = t.WorkerBackoffMax
	}
	return d
}

// wait waits d, as a client's timer does, or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answer renders how a connect was answered: the status, or "no answer".
func answer(status int, err error) string {
	if err != nil {
		return "no answer"
	}
	return strconv.Itoa(status)
}
