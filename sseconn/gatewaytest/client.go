package gatewaytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/ssegate/ssegate/internal/sse"
	"github.com/ssegate/ssegate/internal/uuid"
)

// ErrClosed is returned by [Server.Connect] once the Server is closed.
var ErrClosed = errors.New("gatewaytest: server closed")

// maxErrorBody bounds the body of a non-stream answer that Connect keeps.
const maxErrorBody = 1 << 20

// An Event is one SSE event: as a browser's EventSource parses it from a
// stream, or as a backend sent it in a [SendRequest].
//
// On a stream, a generation-2 gateway's envelope is not unwrapped: use
// [Event.Unwrap] to compare events the same way under both generations. The
// control events of generation 2 have Name "ready" and "rejected".
// Heartbeats and other comments are not events.
type Event struct {
	// Name is the event's name: the "event:" field as sent. It is "" for an
	// unnamed event, where a browser would say "message".
	Name string
	// Data is the event's data; on a stream, its data lines joined with
	// "\n".
	Data string
}

// Unwrap returns the event a backend sent, given the event a browser
// received: a generation-2 envelope, an unnamed event whose data is exactly
// the object {"type":T,"payload":P} with a non-empty string T, becomes
// Event{Name: T, Data: P}, with P as written in the envelope. Any other
// event, including every generation-1 event, is returned as it is.
func (e Event) Unwrap() Event {
	if e.Name != "" || !strings.HasPrefix(e.Data, "{") {
		return e
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal([]byte(e.Data), &env); err != nil || len(env) != 2 {
		return e
	}
	var typ string
	payload, ok := env["payload"]
	if !ok || unmarshalString(env["type"], &typ) != nil || typ == "" {
		return e
	}
	return Event{Name: typ, Data: string(payload)}
}

// A Stream is the browser side of one connection opened by
// [Server.Connect]. A background reader parses the stream as it arrives, so
// that the gateway's writes never block on the test; [Stream.Next] returns
// the events in order.
//
// Next, Token, Body and Close are safe for concurrent use. The exported
// fields must not be modified.
type Stream struct {
	// StatusCode is the HTTP status of the gateway's answer: 200 for a
	// stream (including a generation-2 rejection, which is a stream with one
	// "rejected" event), or the error status of a refused connect.
	StatusCode int
	// Header holds the response headers.
	Header http.Header

	s          *Server
	token      string
	body       []byte             // body of a non-stream answer
	rc         io.ReadCloser      // body of a stream answer; nil otherwise
	cancel     context.CancelFunc // cancels the request
	readerDone chan struct{}      // closed when the reader has returned
	closeOnce  sync.Once

	mu      sync.Mutex    // guards the fields below
	events  []Event       // parsed, not yet returned by Next
	err     error         // why the stream ended; nil while it runs
	wake    chan struct{} // closed and replaced whenever events or err change
	closing bool          // Close was called
}

// Connect opens a stream on the gateway like a browser's EventSource: a
// real GET over loopback with Accept: text/event-stream and Cache-Control:
// no-cache (unless header sets them), plus header. path is the path and
// query string, for example "/api/sse/tasks?task_id=42"; it must start with
// "/". A "Host" entry in header sets the request's host.
//
// Connect returns when the gateway answers, so after the connect callback:
// with a *Stream for any answer, [Stream.StatusCode] telling which, and an
// error only if there is no answer (for example while the gateway refuses
// connections) or ctx is done first. ctx bounds the connect only; the stream
// lives until [Stream.Close], the gateway ends it, or [Server.Close].
//
// Connect also sends a private header that lets the gateway tell the
// stream its token ([Stream.Token]); the gateway never forwards it to the
// backend.
func (s *Server) Connect(ctx context.Context, path string, header http.Header) (*Stream, error) {
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("gatewaytest: connect: path %q does not start with /", path)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gatewaytest: connect %s: %w", path, err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/event-stream")
	}
	if req.Header.Get("Cache-Control") == "" {
		req.Header.Set("Cache-Control", "no-cache")
	}
	id := uuid.New()
	req.Header.Set(streamHeader, id)

	stop := context.AfterFunc(ctx, cancel)
	resp, err := s.client.Do(req)
	token := s.takeStreamToken(id)
	if !stop() {
		if err == nil {
			_ = resp.Body.Close()
		}
		cancel()
		return nil, fmt.Errorf("gatewaytest: connect %s: %w", path, ctx.Err())
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gatewaytest: connect %s: %w", path, err)
	}

	st := &Stream{
		StatusCode: resp.StatusCode,
		Header:     resp.Header,
		s:          s,
		token:      token,
		cancel:     cancel,
		readerDone: make(chan struct{}),
		wake:       make(chan struct{}),
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		st.body, err = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		cancel()
		st.err = io.EOF
		close(st.readerDone)
		if err != nil {
			return nil, fmt.Errorf("gatewaytest: connect %s: read answer: %w", path, err)
		}
		return st, nil
	}
	st.rc = resp.Body
	if !s.addStream(st) {
		_ = resp.Body.Close()
		cancel()
		return nil, ErrClosed
	}
	go st.read()
	return st, nil
}

// takeStreamToken returns and forgets the token the gateway recorded for
// the Connect stream id.
func (s *Server) takeStreamToken(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.streamTokens[id]
	delete(s.streamTokens, id)
	return t
}

// addStream records an open client stream so that Close can close it. It
// reports false once the Server is closed.
func (s *Server) addStream(st *Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streams[st] = struct{}{}
	return true
}

func (s *Server) removeStream(st *Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st)
}

// read parses the stream until it ends.
func (st *Stream) read() {
	defer close(st.readerDone)
	p := sse.NewParser(st.rc, sse.DefaultMaxLine)
	for {
		ev, err := p.Next()
		st.mu.Lock()
		if err != nil {
			if st.closing || errors.Is(err, io.EOF) {
				err = io.EOF
			} else {
				err = fmt.Errorf("gatewaytest: read stream: %w", err)
			}
			st.err = err
		} else {
			st.events = append(st.events, Event(ev))
		}
		close(st.wake)
		st.wake = make(chan struct{})
		st.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// Token returns the gateway's token for this stream: the token of the
// connect callback, and what a backend sends to. It is known as soon as
// Connect returns and never blocks. It is "" if the gateway answered
// without creating a token (it had no callback URL, or was shutting down).
func (st *Stream) Token() string { return st.token }

// Body returns the body of an answer that is not a stream, such as the
// JSON error body of a refused connect ({"error":{"message":…,"code":…}}).
// It returns nil for a stream.
func (st *Stream) Body() []byte { return slices.Clone(st.body) }

// Next returns the next event of the stream, waiting for it until ctx is
// done (then it returns ctx.Err(), and the stream goes on). Heartbeats and
// other comments are skipped. Once the stream has ended and every event has
// been returned, Next returns io.EOF; it does so at once for an answer that
// is not a stream. If the connection failed rather than ended, Next returns
// that error instead.
func (st *Stream) Next(ctx context.Context) (Event, error) {
	for {
		st.mu.Lock()
		if len(st.events) > 0 {
			ev := st.events[0]
			st.events[0] = Event{}
			st.events = st.events[1:]
			st.mu.Unlock()
			return ev, nil
		}
		if st.err != nil {
			err := st.err
			st.mu.Unlock()
			return Event{}, err
		}
		wake := st.wake
		st.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Close closes the stream, like a browser tab that goes away: the gateway
// ends the stream with a disconnect callback "client_closed". Events already
// received can still be read with Next, which then returns io.EOF. Close
// waits for the background reader and may be called more than once.
func (st *Stream) Close() {
	st.closeOnce.Do(func() {
		st.mu.Lock()
		st.closing = true
		st.mu.Unlock()
		st.cancel()
		if st.rc != nil {
			_ = st.rc.Close()
			<-st.readerDone
			st.s.removeStream(st)
		}
	})
}
