package realgw

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

// MaxEventBytes caps one line, and the data of one event, read by
// [Stream.Next], so that a stream that never ends a line cannot exhaust
// memory.
const MaxEventBytes = 1 << 20

// maxBodyBytes caps the body of an answer that is not an event stream.
const maxBodyBytes = 64 << 10

// ErrEventTooLarge is returned by [Stream.Next] for an event larger than
// MaxEventBytes.
var ErrEventTooLarge = errors.New("realgw: event too large")

// Stream is what one browser sees of one GET on the gateway: the answer's
// status and headers, then, for a 200 text/event-stream, its events.
type Stream struct {
	// StatusCode is the answer's status.
	StatusCode int
	// Header holds the answer's headers.
	Header http.Header

	body      []byte // the whole body of an answer that is not an event stream
	rc        io.ReadCloser
	p         *sse.Parser
	tr        *http.Transport
	closeOnce sync.Once
}

// Open sends a GET to url as a browser's EventSource does, on a connection
// of its own, and returns once the answer's headers have arrived. Any status
// is returned as a Stream; the error is for transport failures only. ctx
// bounds the whole life of the stream.
func Open(ctx context.Context, url string, header http.Header) (*Stream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("realgw: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	tr := &http.Transport{DisableKeepAlives: true, DisableCompression: true}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("realgw: open stream: %w", err)
	}
	st := &Stream{StatusCode: resp.StatusCode, Header: resp.Header, rc: resp.Body, tr: tr}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		st.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
		st.Close()
		if err != nil {
			return nil, fmt.Errorf("realgw: read answer: %w", err)
		}
		return st, nil
	}
	st.p = sse.NewParser(resp.Body, MaxEventBytes)
	return st, nil
}

// Body returns the body of an answer that is not an event stream.
func (s *Stream) Body() []byte { return s.body }

// IsEventStream reports whether the answer is a 200 text/event-stream.
func (s *Stream) IsEventStream() bool { return s.p != nil }

// Next returns the next event, waiting until one is complete, the stream ends
// (io.EOF) or ctx is done (ctx.Err(), and the stream is closed). Comments,
// such as the gateway's heartbeats, are skipped. Events are parsed as the
// HTML standard's EventSource does: "event" sets the name, "data" lines are
// joined with "\n", a blank line dispatches, an event without a data line is
// not dispatched, and a line ends with LF, CRLF or a lone CR (the parser of
// internal/sse, shared with gatewaytest and the examples' client).
func (s *Stream) Next(ctx context.Context) (gatewaytest.Event, error) {
	if s.p == nil {
		return gatewaytest.Event{}, io.EOF
	}
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	ev, err := s.next()
	if err != nil && ctx.Err() != nil {
		return gatewaytest.Event{}, ctx.Err()
	}
	return ev, err
}

// Events reads events until the stream ends and returns them. Any error but
// io.EOF is returned with the events read before it.
func (s *Stream) Events(ctx context.Context) ([]gatewaytest.Event, error) {
	var evs []gatewaytest.Event
	for {
		ev, err := s.Next(ctx)
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

// next reads the next event with the shared EventSource parser.
func (s *Stream) next() (gatewaytest.Event, error) {
	ev, err := s.p.Next()
	if errors.Is(err, sse.ErrTooLong) {
		err = fmt.Errorf("%w: %w", ErrEventTooLarge, err)
	}
	if err != nil {
		return gatewaytest.Event{}, err
	}
	return gatewaytest.Event{Name: ev.Name, Data: ev.Data}, nil
}

// Close closes the stream, as a browser tab that goes away. It may be called
// more than once, from any goroutine.
func (s *Stream) Close() {
	s.closeOnce.Do(func() {
		_ = s.rc.Close()
		s.tr.CloseIdleConnections()
	})
}
