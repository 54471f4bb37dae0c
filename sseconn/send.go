package sseconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/errs"
	"github.com/ssegate/ssegate/internal/wire"
)

// Send sends ev to the stream registered for identifier.
//
// It validates ev before any I/O, waits for earlier sends to the same
// identifier, looks the token up and POSTs it to the gateway. There is no
// separate connected check: the lookup is part of the send. A nil error means
// the gateway wrote the event or, during the stream's connect callback,
// buffered it for delivery once the stream opens.
//
// Errors: [ErrInvalidEvent] or [ErrTooLarge] (nothing sent);
// [ErrNotConnected] (no mapping, nothing sent); [ErrGone] (the gateway no
// longer knows the token; the mapping was dropped if it still held that
// token); [*GatewayError] for any other non-2xx answer; [ErrShutdown]; or
// the context or transport error, wrapped. All work with [errors.Is] and
// [errors.As].
func (m *Manager) Send(ctx context.Context, identifier string, ev Event) error {
	return m.send(ctx, identifier, &ev, false, opSend)
}

// SendAndClose sends ev and then ends the stream, in one request. It
// returns the errors of [Manager.Send].
func (m *Manager) SendAndClose(ctx context.Context, identifier string, ev Event) error {
	return m.send(ctx, identifier, &ev, true, opSendClose)
}

// Close ends the stream registered for identifier, after every send to it
// that was called before. The gateway then sends a disconnect callback with
// reason server_closed. It returns the errors of [Manager.Send].
func (m *Manager) Close(ctx context.Context, identifier string) error {
	return m.send(ctx, identifier, nil, true, opClose)
}

func (m *Manager) send(ctx context.Context, identifier string, ev *Event, close bool, op int) error {
	start := time.Now()
	kind := Kind(identifier)
	kt := m.tel.kinds.get(kind)
	if ev != nil {
		if err := ev.Validate(); err != nil {
			m.count(ctx, kt, op, outcomeInvalid)
			return err
		}
		// The token is not known yet: reject what cannot fit whatever the
		// token now; post checks the exact body, still before any I/O.
		if len(ev.Name)+len(ev.Data) > m.cfg.maxBody {
			m.count(ctx, kt, op, outcomeInvalid)
			return fmt.Errorf("%w: event of %d bytes, limit %d", ErrTooLarge, len(ev.Name)+len(ev.Data), m.cfg.maxBody)
		}
	}
	return m.sendValid(ctx, start, identifier, kind, kt, ev, nil, close, op)
}

// sendValid sends ev, already validated, or the pre-encoded event part of a
// broadcast (see encodeEvent) when encoded is not nil.
func (m *Manager) sendValid(ctx context.Context, start time.Time, identifier, kind string, kt *kindTel, ev *Event, encoded []byte, close bool, op int) error {
	// One critical section registers the send with Shutdown, takes the
	// identifier's lane when it is free and looks the token up.
	token, found, wait, err := m.enter(identifier)
	if err != nil {
		m.count(ctx, kt, op, outcomeShutdown)
		return errs.Wrapf("sseconn", err, "%s %s", opNames[op], kind)
	}
	defer m.inflight.Done()

	ctx, cancel := m.deadlines.bound(ctx, start)
	defer cancel()
	var span trace.Span
	if !m.tel.tracing.Off() {
		ctx, span = m.tel.tracer.Start(ctx, spanNames[op], kt.span...)
		defer span.End()
	}

	status, err := m.sendInLane(ctx, identifier, kind, token, found, wait, ev, encoded, close, op)
	outcome := outcomeOf(err)
	if status == wire.StatusBuffered {
		outcome = outcomeBuffered
	}
	oi := outcomeIndex(outcome)
	m.tel.events.Add(ctx, 1, kt.events[op][oi]...)
	m.tel.latency.Record(ctx, time.Since(start).Seconds(), kt.latency[oi]...)
	endSpan(span, outcome, err)
	return err
}

// endSpan records the outcome on span, which is nil when tracing is off.
// The deferred span.End ends it.
func endSpan(span trace.Span, outcome string, err error) {
	if span == nil {
		return
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String("ssegate.outcome", outcome))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
	}
}

// enter registers a send with Shutdown and takes the lane of identifier,
// in one critical section. If the lane is free it also looks the token up
// and wait is nil; otherwise the caller waits on wait (see sendInLane). It
// returns ErrShutdown once Shutdown has begun. Unless it fails, the caller
// must call m.inflight.Done and, once it holds the lane, m.release.
func (m *Manager) enter(identifier string) (token tokenRef, found bool, wait chan struct{}, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return tokenRef{}, false, nil, ErrShutdown
	}
	m.inflight.Add(1)
	if wait = m.lanes.acquire(identifier); wait != nil {
		return tokenRef{}, false, wait, nil
	}
	token, found = m.maps.get(identifier)
	return token, found, nil, nil
}

// sendInLane waits for the identifier's lane if enter could not take it,
// then posts to the token and releases the lane.
func (m *Manager) sendInLane(ctx context.Context, identifier, kind string, token tokenRef, found bool, wait chan struct{}, ev *Event, encoded []byte, close bool, op int) (string, error) {
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			m.mu.Lock()
			gaveUp := m.lanes.abandon(identifier, wait)
			m.mu.Unlock()
			if !gaveUp {
				// The lane was handed over while ctx expired: pass it on.
				m.release(identifier)
			}
			return "", errs.Wrapf("sseconn", ctx.Err(), "%s %s: waiting for earlier sends", opNames[op], kind)
		}
		m.mu.Lock()
		token, found = m.maps.get(identifier)
		m.mu.Unlock()
	}
	defer m.release(identifier)
	if !found {
		return "", errs.Wrapf("sseconn", ErrNotConnected, "%s %s", opNames[op], kind)
	}
	status, err := m.post(ctx, token, ev, encoded, close)
	if errors.Is(err, ErrGone) {
		m.removeIf(ctx, identifier, token, reasonGone)
	}
	if err != nil {
		return "", errs.Wrapf("sseconn", err, "%s %s", opNames[op], kind)
	}
	return status, nil
}

// release hands the lane of identifier to the next waiting send, or frees
// it.
func (m *Manager) release(identifier string) {
	m.mu.Lock()
	m.lanes.release(identifier)
	m.mu.Unlock()
}

// postTimed posts to token outside any lane, bounded by the send timeout:
// closes of replaced streams, shutdown closes and sweeper probes.
func (m *Manager) postTimed(ctx context.Context, identifier string, token tokenRef, ev *Event, close bool, op int) (string, error) {
	kt := m.tel.kinds.get(Kind(identifier))
	ctx, cancel := m.deadlines.bound(ctx, time.Now())
	defer cancel()
	var span trace.Span
	if !m.tel.tracing.Off() {
		ctx, span = m.tel.tracer.Start(ctx, spanNames[op], kt.span...)
		defer span.End()
	}
	status, err := m.post(ctx, token, ev, nil, close)
	outcome := outcomeOf(err)
	if status == wire.StatusBuffered {
		outcome = outcomeBuffered
	}
	m.tel.events.Add(ctx, 1, kt.events[op][outcomeIndex(outcome)]...)
	endSpan(span, outcome, err)
	return status, err
}

// post sends one /internal/send request and classifies the answer. It
// returns the 200 status ("ok" or "buffered"). The body is encoded from ev,
// or from the pre-encoded event part when encoded is not nil.
func (m *Manager) post(ctx context.Context, token tokenRef, ev *Event, encoded []byte, close bool) (string, error) {
	var pb *pooledBody
	var body []byte
	switch n := encodedLen(token, ev, encoded, close); {
	case m.rc != nil && n >= pooledBodyMin:
		pb = getPooledBody(n)
		defer pb.release()
		pb.buf = appendSend(pb.buf, token, ev, encoded, close)
		body = pb.buf
	case encoded != nil:
		body = encodeSendEncoded(token, encoded)
	default:
		body = encodeSend(token, ev, close)
	}
	if len(body) > m.cfg.maxBody {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(body), m.cfg.maxBody)
	}
	resp, err := m.do(ctx, body, pb)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			return "", fmt.Errorf("post: %w (%w)", ctxErr, err)
		}
		return "", fmt.Errorf("post: %w", err)
	}
	return readAnswer(resp)
}

// jsonHeader is the header of every send through the default doer. It is
// shared and never modified: neither go-retryablehttp nor net/http's client
// and transport write to a request's header (the client copies it before
// adding anything). A Doer of WithDoer gets a fresh header per request.
var jsonHeader = http.Header{"Content-Type": jsonContentType}

// jsonContentType is the Content-Type header value of every send.
var jsonContentType = []string{"application/json"}

// do POSTs body to the gateway's /internal/send: through the retryablehttp
// client directly by default, or through the Doer of [WithDoer]. Requests
// are copies of a template with the URL parsed once. A pooled body (default
// doer only) is read through pooledReaders, which give the buffer back.
func (m *Manager) do(ctx context.Context, body []byte, pb *pooledBody) (*http.Response, error) {
	req := m.sendReq.WithContext(ctx)
	req.ContentLength = int64(len(body))
	if m.rc != nil {
		req.Header = jsonHeader
		if pb != nil {
			req.Body = pb.readCloser()
			req.GetBody = pb.getBody
		} else {
			req.Body, req.GetBody = inMemoryBody(body)
		}
		// The body is set on the request itself, with GetBody to rewind
		// it: go-retryablehttp then neither wraps nor copies it, and
		// rewindBody (its PrepareRetry hook) rewinds it for a retry.
		return m.rc.Do(&retryablehttp.Request{Request: req})
	}
	req.Header = http.Header{"Content-Type": jsonContentType}
	req.Body, req.GetBody = inMemoryBody(body)
	return m.doer.Do(req)
}

// inMemoryBody returns a request body reading b and its GetBody. The body is
// an io.NopCloser of a *bytes.Reader, which net/http recognises as in
// memory: it then writes the headers and a small body in one write.
func inMemoryBody(b []byte) (io.ReadCloser, func() (io.ReadCloser, error)) {
	return io.NopCloser(bytes.NewReader(b)), func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// rewindBody is the go-retryablehttp PrepareRetry hook of a Manager's
// default doer: it gives the retry a fresh body from GetBody. (Requests
// made by [Manager.do] carry their body on the http.Request itself, so
// go-retryablehttp has none of its own to rewind.)
func rewindBody(req *http.Request) error {
	if req.GetBody == nil {
		return nil
	}
	body, err := req.GetBody()
	if err != nil {
		return fmt.Errorf("rewind body: %w", err)
	}
	req.Body = body
	return nil
}

// classify turns the gateway's answer into a status or an error.
func classify(resp *http.Response, answer []byte) (string, error) {
	isJSON := false
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		isJSON = true
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		var sr wire.SendResponse
		if isJSON && json.Unmarshal(answer, &sr) == nil && sr.Status != "" {
			return sr.Status, nil
		}
		return wire.StatusOK, nil
	}
	ge := &GatewayError{StatusCode: resp.StatusCode}
	var eb wire.ErrorBody
	if isJSON && json.Unmarshal(answer, &eb) == nil && eb.Error.Code != "" {
		ge.Code, ge.Message = eb.Error.Code, eb.Error.Message
	} else {
		ge.Message = summarize(resp.StatusCode, isJSON, answer)
	}
	if ge.StatusCode == http.StatusNotFound && ge.Code == wire.CodeTokenNotFound {
		return "", ErrGone
	}
	return "", ge
}

// summarize describes a non-JSON error answer, such as the gateway's HTML
// pages for 400 (body not JSON) and 413 (body over its limit).
func summarize(status int, isJSON bool, answer []byte) string {
	msg := http.StatusText(status)
	if msg == "" {
		msg = "unexpected status"
	}
	switch {
	case isJSON:
		return msg + " (unrecognised JSON body)"
	case len(answer) == 0:
		return msg + " (empty body)"
	case bytes.Contains(answer[:min(len(answer), 512)], []byte("<")):
		return msg + " (HTML body)"
	default:
		s := strings.TrimSpace(string(answer[:min(len(answer), 200)]))
		return msg + ": " + strings.ToValidUTF8(s, "?")
	}
}

// outcomeOf names the outcome of a send for metrics and spans.
func outcomeOf(err error) string {
	if err == nil {
		return outcomeOK
	}
	var ge *GatewayError
	switch {
	case errors.Is(err, ErrNotConnected):
		return outcomeNotConnected
	case errors.Is(err, ErrGone):
		return outcomeGone
	case errors.Is(err, ErrInvalidEvent), errors.Is(err, ErrTooLarge):
		return outcomeInvalid
	case errors.As(err, &ge):
		return outcomeGatewayError
	case errors.Is(err, ErrShutdown):
		return outcomeShutdown
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outcomeCanceled
	default:
		return outcomeTransport
	}
}

// count counts a send that ended before any I/O.
func (m *Manager) count(ctx context.Context, kt *kindTel, op int, outcome string) {
	m.tel.events.Add(ctx, 1, kt.events[op][outcomeIndex(outcome)]...)
}
