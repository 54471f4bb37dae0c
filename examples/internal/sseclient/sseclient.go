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
// ended, ErrEventTooLarge for an event over the size cap, and ctx.Err() when
// ctx ends first.
package sseclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// MaxEventBytes caps one event, field names and line ends included, so that
// a stream that never ends a line cannot exhaust memory.
const MaxEventBytes = 1 << 20

// ErrEventTooLarge is returned by [Stream.Next] for an event larger than
// MaxEventBytes.
var ErrEventTooLarge = errors.New("sseclient: event too large")

// Stream is one open event stream.
type Stream struct {
	body io.ReadCloser
	r    *bufio.Reader

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
	return &Stream{body: resp.Body, r: bufio.NewReader(resp.Body)}, nil
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

// next parses lines up to the next dispatched event, as the HTML
// standard's event-stream interpretation says: "event" sets the name,
// "data" lines are joined with "\n", a blank line dispatches, and an event
// without any data line is not dispatched.
func (s *Stream) next() (gatewaytest.Event, error) {
	var (
		name    string
		data    strings.Builder
		hasData bool
		size    int
	)
	for {
		line, err := s.readLine(max(MaxEventBytes-size, 0))
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF // an unfinished event at the end is discarded
			}
			return gatewaytest.Event{}, err
		}
		size += len(line) + 1
		if line == "" {
			if hasData {
				return gatewaytest.Event{Name: name, Data: data.String()}, nil
			}
			name = ""
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "": // a comment, such as ": heartbeat"
		case "event":
			name = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		}
	}
}

// readLine reads one line without its line end, failing past limit bytes.
// A line ends with LF, CRLF or a lone CR, as the HTML standard says (the
// gateway writes LF).
func (s *Stream) readLine(limit int) (string, error) {
	var buf []byte
	for {
		c, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		switch c {
		case '\n':
			return string(buf), nil
		case '\r':
			if next, err := s.r.Peek(1); err == nil && next[0] == '\n' {
				_, _ = s.r.ReadByte() // CRLF is one line end
			}
			return string(buf), nil
		}
		if len(buf) >= limit {
			return "", ErrEventTooLarge
		}
		buf = append(buf, c)
	}
}

// Close closes the stream, as a browser tab that goes away. It may be called
// more than once, from any goroutine.
func (s *Stream) Close() {
	s.closeOnce.Do(func() { _ = s.body.Close() })
}
