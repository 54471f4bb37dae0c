package callback

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ssegate/ssegate/internal/ident"
	"github.com/ssegate/ssegate/internal/wire"
)

// Handler is the http.Handler for the gateway's connect and disconnect
// callbacks. Create it with [NewHandler] and mount it on a mux, for example
// at "POST /api/sse/callback"; a zero Handler answers every request 500.
//
// A Handler is safe for concurrent use. Its routes and settings are fixed by
// NewHandler. [Handler.Shutdown] stops it accepting connects and waits for
// the callbacks in flight.
type Handler struct {
	routes  []route
	auth    Authenticator // nil only with WithInsecureNoAuth and nothing else
	maxBody int64
	bodyTTL time.Duration // bound of reading one body
	log     *slog.Logger
	tel     *instruments

	mu       sync.Mutex                            // guards inflight, closing, idle and reading
	inflight int                                   // ServeHTTP calls in progress
	closing  bool                                  // Shutdown was called
	idle     chan struct{}                         // closed when closing and inflight drops to 0
	reading  map[*http.ResponseController]struct{} // requests still reading their body
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a callback handler configured by opts.
//
// It fails closed: without [WithSecret], [WithAuthenticator] or the explicit
// [WithInsecureNoAuth] it returns an error. It also returns an error for an
// invalid option: an empty secret, a nil matcher, service or authenticator,
// a matcher with an invalid pattern, an invalid secret header name or a
// negative body limit. These errors wrap [ErrInvalidConfig], every problem
// reported, joined with [errors.Join]. A failure to create the
// OpenTelemetry instruments is another error.
//
// A handler without routes is allowed: it answers every connect 400 and
// ignores every disconnect.
func NewHandler(opts ...Option) (*Handler, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	tel, err := newInstruments(c.meterProvider, c.tracerProv)
	if err != nil {
		return nil, fmt.Errorf("callback: creating instruments: %w", err)
	}
	var auth authenticators
	if len(c.secrets) > 0 {
		auth = append(auth, newSecretAuth(c.secrets, c.secretHeader))
	}
	if c.authenticator != nil {
		auth = append(auth, c.authenticator)
	}
	h := &Handler{
		routes:  c.routes,
		maxBody: int64(c.maxBodyBytes),
		bodyTTL: c.bodyTimeout,
		log:     c.logger,
		tel:     tel,
	}
	if len(auth) > 0 {
		h.auth = auth
	}
	return h, nil
}

// result describes a handled callback request for the span, the metrics and
// the log. It never holds the secret, header values or the URL query.
type result struct {
	action     string // "connect", "disconnect" or "unknown"
	kind       string // kind of the identifier, or "unknown"
	outcome    string
	status     int
	identifier string
	reason     string
	path       string // path of the browser's URL, without the query
	err        error  // logged, never sent
}

// ServeHTTP handles one callback request. It answers:
//   - 200 with {} or the service's [ConnectResponse] for a handled callback,
//     and 200 with {} for a disconnect that matches no route or whose URL a
//     matcher refuses (the gateway ignores the answer to a disconnect);
//   - 400 for a malformed body (invalid JSON, missing body, unknown action,
//     empty token, missing or invalid request.url), and for a connect that
//     matches no route or whose URL a matcher refuses (or the status of a
//     [*Rejection] the matcher returns);
//   - 401 when authentication fails;
//   - the status of a [*Rejection] returned by a service;
//   - 405 with "Allow: POST" for any method but POST;
//   - 413 for a body over the limit (see [WithMaxBodyBytes]);
//   - 500 with a generic body for any other service error or a panic;
//   - 400 for a body not read within the body timeout (see [WithBodyTimeout]);
//   - 503 for a connect during or after [Handler.Shutdown], and for any
//     callback whose body was still arriving when Shutdown was called.
//
// Every answer is JSON; errors are {"error": message, "details": {...}}
// with optional details. The service gets r.Context(), which ends when the
// gateway gives up on the callback (after 5 s by default).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.tel == nil {
		writeJSON(w, http.StatusInternalServerError, errorJSON("callback handler not initialized", nil))
		return
	}
	start := time.Now()
	h.enter()
	defer h.leave()
	res := h.serve(w, r)
	d := time.Since(start)
	h.tel.record(r.Context(), &res, d)
	h.logResult(r.Context(), &res, d)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (res result) {
	res = result{action: unknown, kind: unknown}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.writeProblem(w, &res, &problem{
			status:  http.StatusMethodNotAllowed,
			outcome: outcomeMethodNotAllowed,
			message: "method not allowed",
		})
		return res
	}
	if h.auth != nil {
		if err := safely(func() error { return h.auth.Authenticate(r) }); err != nil {
			h.writeError(w, &res, authProblem(err), err)
			return res
		}
	}
	buf := bodyBufs.Get().(*bytes.Buffer)
	body, p := h.readBody(w, r, buf)
	var req *Request
	if p == nil {
		req, p = decode(body)
	}
	if buf.Cap() <= maxPooledBody {
		buf.Reset()
		bodyBufs.Put(buf)
	}
	if p != nil {
		h.writeProblem(w, &res, p)
		return res
	}
	res.action, res.reason, res.path = req.Action, req.Reason, req.URL.Path

	ctx, span := h.tel.start(r.Context(), req)
	defer h.tel.end(span, &res)

	connect := req.Action == wire.ActionConnect
	if connect && h.isClosing() {
		h.writeProblem(w, &res, &problem{
			status:  http.StatusServiceUnavailable,
			outcome: outcomeUnavailable,
			message: "shutting down",
		})
		return res
	}

	svc, err := h.route(req)
	if err != nil {
		if !connect && !isPanic(err) {
			// The gateway ignores the answer to a disconnect; a URL no
			// route accepts is one nobody registered.
			res.outcome, res.status, res.err = outcomeUnmatched, http.StatusOK, err
			writeJSON(w, http.StatusOK, emptyJSON)
			return res
		}
		h.writeError(w, &res, matchProblem(err), err)
		return res
	}
	if svc == nil {
		if !connect {
			res.outcome, res.status = outcomeUnmatched, http.StatusOK
			writeJSON(w, http.StatusOK, emptyJSON)
			return res
		}
		h.writeProblem(w, &res, &problem{
			status:  http.StatusBadRequest,
			outcome: outcomeUnmatched,
			message: "no route matches request.url",
			details: map[string]string{"field": "request.url", "reason": "matches no route"},
		})
		return res
	}
	res.identifier, res.kind = req.Identifier, ident.Kind(req.Identifier)

	var resp *ConnectResponse
	err = safely(func() error {
		if connect {
			var err error
			resp, err = svc.Connect(ctx, req)
			return err
		}
		return svc.Disconnect(ctx, req)
	})
	if err != nil {
		h.writeError(w, &res, serviceProblem(err), err)
		return res
	}
	out := emptyJSON
	if resp != nil {
		if out, err = json.Marshal(resp); err != nil {
			h.writeError(w, &res, serviceProblem(err), fmt.Errorf("callback: encoding connect response: %w", err))
			return res
		}
	}
	res.outcome, res.status = outcomeAccepted, http.StatusOK
	writeJSON(w, http.StatusOK, out)
	return res
}

// route finds the service for req and sets req.Identifier and req.Params.
// It returns a nil service when no route matches, and the matcher's error
// (or a panic) otherwise.
func (h *Handler) route(req *Request) (Service, error) {
	for _, rt := range h.routes {
		var (
			m  Match
			ok bool
		)
		u := *req.URL // a matcher must not be able to change req.URL
		err := safely(func() error {
			var err error
			m, ok, err = rt.matcher.Match(&u)
			return err
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := checkIdentifier(m.Identifier); err != nil {
			return nil, err
		}
		req.Identifier, req.Params = m.Identifier, m.Params
		return rt.service, nil
	}
	return nil, nil
}

// readBody reads the body of r, bounded in size by the body limit and in
// time by the body timeout (see [WithBodyTimeout]), through the connection's
// read deadline. Shutdown ends the read of a body still arriving at once;
// the callback is then answered 503.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) ([]byte, *problem) {
	if r.ContentLength > h.maxBody {
		// Cheap: nothing read, nothing allocated, and the connection is
		// closed rather than drained.
		w.Header().Set("Connection", "close")
		return nil, tooLarge()
	}
	rc := http.NewResponseController(w)
	h.mu.Lock()
	deadline := time.Now().Add(h.bodyTTL)
	if h.closing {
		deadline = time.Now()
	}
	// ErrNotSupported (a ResponseWriter without a connection, in tests)
	// leaves the read unbounded in time, and nothing for Shutdown to cut.
	bounded := rc.SetReadDeadline(deadline) == nil
	if bounded {
		if h.reading == nil {
			h.reading = make(map[*http.ResponseController]struct{})
		}
		h.reading[rc] = struct{}{}
	}
	h.mu.Unlock()

	body, p := readBody(w, r, h.maxBody, buf)

	h.mu.Lock()
	if bounded {
		delete(h.reading, rc)
	}
	closing := h.closing
	h.mu.Unlock()
	if p != nil {
		// The rest of the body is never read: close the connection
		// rather than let the server drain it, and keep the deadline,
		// which bounds that drain too.
		w.Header().Set("Connection", "close")
	} else if bounded {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if p != nil && p.outcome == outcomeInvalid && closing {
		return nil, &problem{status: http.StatusServiceUnavailable, outcome: outcomeUnavailable, message: "shutting down"}
	}
	return body, p
}

// Shutdown makes the handler answer 503 to every later connect callback, so
// that the gateway refuses new browsers, and waits until no callback is in
// flight or ctx is done. A callback whose body is still arriving is answered
// 503 at once, so a slow sender cannot hold Shutdown. Disconnect callbacks
// are still handled during and after Shutdown. It returns ctx.Err() if ctx
// ends first, and nil otherwise. Shutdown may be called more than once and
// concurrently.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	for rc := range h.reading {
		_ = rc.SetReadDeadline(time.Now())
	}
	if h.inflight == 0 {
		h.mu.Unlock()
		return nil
	}
	if h.idle == nil {
		h.idle = make(chan struct{})
	}
	idle := h.idle
	h.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Handler) enter() {
	h.mu.Lock()
	h.inflight++
	h.mu.Unlock()
}

func (h *Handler) leave() {
	h.mu.Lock()
	h.inflight--
	if h.inflight == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
	h.mu.Unlock()
}

func (h *Handler) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// authProblem maps an authentication error to its answer.
func authProblem(err error) *problem {
	if p := panicProblem(err); p != nil {
		return p
	}
	var rej *Rejection
	if errors.As(err, &rej) && rej.valid() {
		return &problem{status: rej.Status, outcome: outcomeUnauthorized, message: rej.message()}
	}
	return &problem{status: http.StatusUnauthorized, outcome: outcomeUnauthorized, message: "unauthorized"}
}

// matchProblem maps a matcher error to its answer.
func matchProblem(err error) *problem {
	if p := panicProblem(err); p != nil {
		return p
	}
	var rej *Rejection
	if errors.As(err, &rej) {
		return rejectionProblem(rej)
	}
	var ve *valueError
	if errors.As(err, &ve) {
		return invalid("invalid request.url", map[string]string{"param": ve.param, "reason": ve.reason})
	}
	return invalid("invalid request.url", map[string]string{"field": "request.url", "reason": err.Error()})
}

// serviceProblem maps a service error to its answer.
func serviceProblem(err error) *problem {
	if p := panicProblem(err); p != nil {
		return p
	}
	var rej *Rejection
	if errors.As(err, &rej) {
		return rejectionProblem(rej)
	}
	return internalProblem(outcomeError)
}

func rejectionProblem(rej *Rejection) *problem {
	if !rej.valid() {
		return internalProblem(outcomeError)
	}
	return &problem{status: rej.Status, outcome: outcomeRejected, message: rej.message()}
}

func panicProblem(err error) *problem {
	if isPanic(err) {
		return internalProblem(outcomePanic)
	}
	return nil
}

func internalProblem(outcome string) *problem {
	return &problem{status: http.StatusInternalServerError, outcome: outcome, message: "internal error"}
}

func isPanic(err error) bool {
	var pe *panicError
	return errors.As(err, &pe)
}

// safely calls f and turns a panic into a *panicError.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return f()
}

// writeError answers p and keeps cause for the log.
func (h *Handler) writeError(w http.ResponseWriter, res *result, p *problem, cause error) {
	res.err = cause
	h.writeProblem(w, res, p)
}

func (h *Handler) writeProblem(w http.ResponseWriter, res *result, p *problem) {
	res.outcome, res.status = p.outcome, p.status
	if res.err == nil && p.status != http.StatusOK {
		res.err = p
	}
	writeJSON(w, p.status, errorJSON(p.message, p.details))
}

// emptyJSON is the body of a successful answer without content.
var emptyJSON = []byte("{}")

// errorBody is the JSON body of an error answer.
type errorBody struct {
	Error   string            `json:"error"`
	Details map[string]string `json:"details,omitempty"`
}

func errorJSON(message string, details map[string]string) []byte {
	b, err := json.Marshal(errorBody{Error: message, Details: details})
	if err != nil { // cannot happen for strings
		return []byte(`{"error":"internal error"}`)
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	hd := w.Header()
	// One allocation for both values, as hd.Set would store them.
	v := []string{"application/json", "nosniff"}
	hd["Content-Type"] = v[0:1:1]
	hd["X-Content-Type-Options"] = v[1:2:2]
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// logResult logs one handled request: debug for success, info for client
// errors, warn for failed authentication and error for 5xx. It logs the
// browser URL's path but never its query, nor any header value or the
// callback request's URL, which may carry the secret.
func (h *Handler) logResult(ctx context.Context, res *result, d time.Duration) {
	level := slog.LevelDebug
	switch {
	case res.status >= 500:
		level = slog.LevelError
	case res.outcome == outcomeUnauthorized:
		level = slog.LevelWarn
	case res.status >= 400:
		level = slog.LevelInfo
	}
	if !h.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("action", res.action),
		slog.String("outcome", res.outcome),
		slog.Int("status", res.status),
		slog.Duration("duration", d),
	)
	if res.identifier != "" {
		attrs = append(attrs, slog.String("identifier", res.identifier))
	}
	if res.path != "" {
		attrs = append(attrs, slog.String("path", res.path))
	}
	if res.reason != "" {
		attrs = append(attrs, slog.String("reason", res.reason))
	}
	if res.err != nil {
		attrs = append(attrs, slog.String("error", res.err.Error()))
		var pe *panicError
		if errors.As(res.err, &pe) {
			attrs = append(attrs, slog.String("stack", string(pe.stack)))
		}
	}
	h.log.LogAttrs(ctx, level, "sse callback", attrs...)
}
