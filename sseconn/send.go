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
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/ssegate/ssegate/internal/errs"
	"github.com/ssegate/ssegate/internal/wire"
)

// maxAnswerBytes caps how much of the gateway's answer is read.
const maxAnswerBytes = 64 << 10

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
	return m.send(ctx, identifier, &ev, false, "send")
}

// SendAndClose sends ev and then ends the stream, in one request. It
// returns the errors of [Manager.Send].
func (m *Manager) SendAndClose(ctx context.Context, identifier string, ev Event) error {
	return m.send(ctx, identifier, &ev, true, "send_close")
}

// Close ends the stream registered for identifier, after every send to it
// that was called before. The gateway then sends a disconnect callback with
// reason server_closed. It returns the errors of [Manager.Send].
func (m *Manager) Close(ctx context.Context, identifier string) error {
	return m.send(ctx, identifier, nil, true, "close")
}

func (m *Manager) send(ctx context.Context, identifier string, ev *Event, close bool, op string) error {
	start := time.Now()
	kind := Kind(identifier)
	if ev != nil {
		if err := ev.Validate(); err != nil {
			m.count(ctx, kind, op, outcomeInvalid)
			return err
		}
	}
	// The token is not known yet: reject what cannot fit whatever the
	// token now; post checks the exact body, still before any I/O.
	if ev != nil && len(ev.Name)+len(ev.Data) > m.cfg.maxBody {
		m.count(ctx, kind, op, outcomeInvalid)
		return fmt.Errorf("%w: event of %d bytes, limit %d", ErrTooLarge, len(ev.Name)+len(ev.Data), m.cfg.maxBody)
	}
	if !m.begin() {
		m.count(ctx, kind, op, outcomeShutdown)
		return errs.Wrapf("sseconn", ErrShutdown, "%s %s", op, kind)
	}
	defer m.inflight.Done()

	ctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
	defer cancel()
	ctx, span := m.tel.tracer.Start(ctx, spanName(op), m.tel.spanOptions(kind)...)
	defer span.End()

	status, err := m.sendLocked(ctx, identifier, ev, close, op)
	outcome := outcomeOf(err)
	if status == wire.StatusBuffered {
		outcome = outcomeBuffered
	}
	m.count(ctx, kind, op, outcome)
	m.tel.latency.Record(ctx, time.Since(start).Seconds(), m.tel.latencyOptions(kind, outcome)...)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("ssegate.outcome", outcome))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
	}
	return err
}

// sendLocked waits for the identifier's lane, then looks up and posts.
func (m *Manager) sendLocked(ctx context.Context, identifier string, ev *Event, close bool, op string) (string, error) {
	kind := Kind(identifier)
	if err := m.lanes.acquire(ctx, identifier); err != nil {
		return "", errs.Wrapf("sseconn", err, "%s %s: waiting for earlier sends", op, kind)
	}
	defer m.lanes.release(identifier)

	token, ok := m.Token(identifier)
	if !ok {
		return "", errs.Wrapf("sseconn", ErrNotConnected, "%s %s", op, kind)
	}
	status, err := m.post(ctx, token, ev, close)
	if errors.Is(err, ErrGone) {
		m.removeIf(ctx, identifier, token, reasonGone)
	}
	if err != nil {
		return "", errs.Wrapf("sseconn", err, "%s %s", op, kind)
	}
	return status, nil
}

// postTimed posts to token outside any lane, bounded by the send timeout:
// closes of replaced streams, shutdown closes and sweeper probes.
func (m *Manager) postTimed(ctx context.Context, identifier, token string, ev *Event, close bool, op string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
	defer cancel()
	ctx, span := m.tel.tracer.Start(ctx, spanName(op), m.tel.spanOptions(Kind(identifier))...)
	defer span.End()
	status, err := m.post(ctx, token, ev, close)
	outcome := outcomeOf(err)
	if status == wire.StatusBuffered {
		outcome = outcomeBuffered
	}
	m.count(ctx, Kind(identifier), op, outcome)
	if span.IsRecording() {
		span.SetAttributes(attribute.String("ssegate.outcome", outcome))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, outcome)
	}
	return status, err
}

// post sends one /internal/send request and classifies the answer. It
// returns the 200 status ("ok" or "buffered").
func (m *Manager) post(ctx context.Context, token string, ev *Event, close bool) (string, error) {
	body := encodeSend(token, ev, close)
	if len(body) > m.cfg.maxBody {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(body), m.cfg.maxBody)
	}
	resp, err := m.do(ctx, body)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			return "", fmt.Errorf("post: %w (%w)", ctxErr, err)
		}
		return "", fmt.Errorf("post: %w", err)
	}
	defer func() {
		// Drain a little so that the keep-alive connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerBytes))
		resp.Body.Close()
	}()
	buf := answerBufs.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); answerBufs.Put(buf) }()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxAnswerBytes)); err != nil {
		return "", fmt.Errorf("read answer (status %d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode == http.StatusOK && bytes.Equal(buf.Bytes(), okAnswer) {
		return wire.StatusOK, nil // the common answer, without parsing
	}
	return classify(resp, buf.Bytes())
}

// okAnswer is the gateway's answer to a delivered send.
var okAnswer = []byte(`{"status":"ok"}`)

// answerBufs recycles the buffers answers are read into.
var answerBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// jsonContentType is the Content-Type header value of every send.
var jsonContentType = []string{"application/json"}

// do POSTs body to the gateway's /internal/send: through the retryablehttp
// client directly by default, or through the Doer of [WithDoer]. Requests
// are copies of a template with the URL parsed once.
func (m *Manager) do(ctx context.Context, body []byte) (*http.Response, error) {
	req := m.sendReq.WithContext(ctx)
	req.Header = http.Header{"Content-Type": jsonContentType}
	if m.rc != nil {
		rr, err := retryablehttp.FromRequest(req)
		if err == nil {
			err = rr.SetBody(body)
		}
		if err != nil {
			return nil, fmt.Errorf("build request: %w", err)
		}
		return m.rc.Do(rr)
	}
	req.ContentLength = int64(len(body))
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return m.doer.Do(req)
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

func (m *Manager) count(ctx context.Context, kind, op, outcome string) {
	m.tel.events.Add(ctx, 1, m.tel.eventOptions(kind, op, outcome)...)
}
