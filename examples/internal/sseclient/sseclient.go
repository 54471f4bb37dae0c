// Package sseclient is a small Server-Sent Events client, for the terminal
// mode of the example programs when they run against an external gateway:
// it opens a stream as a browser's EventSource does and parses its events.
//
// It returns events as [gatewaytest.Event], so that [gatewaytest.Event.Unwrap]
// reads the events of generation-1 and generation-2 gateways alike, and a
// *Stream can stand where a *gatewaytest.Stream does.
//
// # Concurrency
//
// A Stream is read by one goroutine at a time; Close may be called from any
// goroutine. The package starts no goroutine.
//
// # Errors
//
// Open fails for an answer that is not a 200 event stream, with an error that
// quotes the start of the answer's body. Next returns io.EOF once the stream
// ended, ErrEventTooLarge for a line or an event's data over
// MaxEventBytes, and ctx.Err() when ctx ends first. Events are parsed as a
// browser parses them, by the module's one SSE parser.
package sseclient

import (
	"bytes"
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

// MaxEventBytes caps one line and the data of one event, so that a stream
// that never ends a line cannot exhaust memory.
const MaxEventBytes = 1 << 20

// ErrEventTooLarge is returned by [Stream.Next] for an event larger than
// MaxEventBytes.
var ErrEventTooLarge = errors.New("sseclient: event too large")

// Stream is one open event stream.
type Stream struct {
	body io.ReadCloser
	p    *sse.Parser

	closeOnce sync.Once
}

// Open opens the event stream at url with a GET, as an EventSource does, and
// returns once the server answered with a 200 text/event-stream. A nil client
// means http.DefaultClient. ctx bounds the whole life of the stream.
func Open(ctx context.Context, client *http.Client, url string) (*Stream, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("sseclient: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sseclient: open stream: %w", err)
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || mediaType != "text/event-stream" {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("sseclient: open stream: %s (%s): %s",
			resp.Status, resp.Header.Get("Content-Type"), bytes.TrimSpace(body))
	}
	return &Stream{body: resp.Body, p: sse.NewParser(resp.Body, MaxEventBytes)}, nil
}

// Next returns the next event, waiting until one is complete, the stream
// ends (io.EOF) or ctx is done. Comments, such as the gateway's heartbeats,
// are skipped. A ctx that ends closes the stream.
func (s *Stream) Next(ctx context.Context) (gatewaytest.Event, error) {
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	ev, err := s.next()
	if err != nil && ctx.Err() != nil {
		return gatewaytest.Event{}, ctx.Err()
	}
	return ev, err
}

// next returns the next event of the stream, parsed as a browser does.
func (s *Stream) next() (gatewaytest.Event, error) {
	ev, err := s.p.Next()
	if errors.Is(err, sse.ErrTooLong) {
		return gatewaytest.Event{}, ErrEventTooLarge
	}
	return gatewaytest.Event(ev), err
}

// Close closes the stream, as a browser tab that goes away. It may be called
// more than once, from any goroutine.
func (s *Stream) Close() {
	s.closeOnce.Do(func() { _ = s.body.Close() })
}
