package frontendtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/ssegate/ssegate/internal/sse"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// MaxEventBytes bounds one line, and the data of one event, that a stream
// opened by [HTTP] reads.
const MaxEventBytes = 1 << 20

// HTTP returns a Dialer that opens streams with a GET on baseURL+path, as
// an EventSource does, each on a connection of its own, for gateways other
// than a gatewaytest.Server, such as the reference gateway. header is sent
// with every connect; nil sends none. A stream's events are read with the
// repository's SSE parser; the stream lives until it ends, it is closed,
// or the ctx given to the Dialer ends.
func HTTP(baseURL string, header http.Header) Dialer {
	return func(ctx context.Context, path string) (int, Stream, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+path, nil)
		if err != nil {
			return 0, nil, fmt.Errorf("frontendtest: %w", err)
		}
		for k, vs := range header {
			req.Header[k] = append([]string(nil), vs...)
		}
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Cache-Control", "no-cache")
		tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			tr.CloseIdleConnections()
			return 0, nil, fmt.Errorf("frontendtest: open %s: %w", path, err)
		}
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			tr.CloseIdleConnections()
			return resp.StatusCode, nil, nil
		}
		return resp.StatusCode, &httpStream{body: resp.Body, p: sse.NewParser(resp.Body, MaxEventBytes), tr: tr}, nil
	}
}

// httpStream is a stream opened by HTTP. Next is called by one goroutine
// at a time; Close by any.
type httpStream struct {
	body      io.ReadCloser
	p         *sse.Parser
	tr        *http.Transport
	closeOnce sync.Once
}

// Next returns the next event, io.EOF once the stream ended, or ctx.Err()
// when ctx ends first (the stream is then closed).
func (s *httpStream) Next(ctx context.Context) (gatewaytest.Event, error) {
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	ev, err := s.p.Next()
	switch {
	case err == nil:
		return gatewaytest.Event{Name: ev.Name, Data: ev.Data}, nil
	case ctx.Err() != nil:
		return gatewaytest.Event{}, ctx.Err()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return gatewaytest.Event{}, io.EOF
	}
	return gatewaytest.Event{}, fmt.Errorf("frontendtest: read stream: %w", err)
}

// Close closes the stream, as a page that closes its EventSource.
func (s *httpStream) Close() {
	s.closeOnce.Do(func() {
		_ = s.body.Close()
		s.tr.CloseIdleConnections()
	})
}
