package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/internal/wire"
)

// streamHeader is the private request header [Server.Connect] sends so
// that the gateway can tell it the token of the stream. It is never
// forwarded to the backend.
const streamHeader = "X-Gatewaytest-Stream"

// writeTimeout bounds one write to a browser. A browser that does not read
// for that long makes the write fail (WRITE_FAILED, disconnect "error").
const writeTimeout = 10 * time.Second

// maxCallbackAnswer bounds how much of a callback answer's body is read.
const maxCallbackAnswer = 64 << 10

// errDropped is the write error [Server.DropStream] injects.
var errDropped = errors.New("gatewaytest: stream dropped by DropStream")

type connState int

const (
	stateConnecting connState = iota // connect callback running; sends are buffered
	stateOpen                        // stream open; sends are written
	stateEnded                       // forgotten; sends answer 404
)

// A conn is one browser connection, from the token's creation until it is
// forgotten.
type conn struct {
	token  string
	req    wire.Request       // the browser's request as the callbacks carry it
	cancel context.CancelFunc // aborts the connect callback (Restart)
	done   chan struct{}      // closed when the conn ends
	w      http.ResponseWriter
	rc     *http.ResponseController

	mu           sync.Mutex // guards the fields below, and every write to w
	state        connState
	opened       bool    // the 2xx answer was written: a disconnect callback is due at the end
	buf          []Event // sends buffered while connecting
	closePending bool    // a close was buffered while connecting
	dropped      bool    // DropStream: the next write fails
	aborted      bool    // Restart: abort the browser's TCP connection
	reason       string  // why the stream ended; "" if never opened
}

// writeLocked writes b to the browser and flushes it. c.mu must be held.
func (c *conn) writeLocked(b []byte) error {
	if c.dropped {
		return errDropped
	}
	_ = c.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.w.Write(b)
	if err == nil {
		err = c.rc.Flush()
	}
	// No deadline between writes: the stream may stay idle for long, and
	// the end of the response must still be written.
	_ = c.rc.SetWriteDeadline(time.Time{})
	return err
}

// serveStream handles a browser's GET (PROTOCOL.md section 2).
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	if s.callbackURL == "" {
		writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "CALLBACK_URL is not configured")
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	c := &conn{
		token:  uuid.New(),
		req:    wire.Request{URL: r.RequestURI, Headers: forwardHeaders(r)},
		cancel: cancel,
		done:   make(chan struct{}),
		w:      w,
		rc:     http.NewResponseController(w),
	}
	// Record the connection before calling the backend: sends made from
	// inside the connect callback are buffered.
	if !s.addConn(c, r.Header.Get(streamHeader)) {
		writeError(w, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "gateway is shutting down")
		return
	}
	defer s.streamHandlerDone(c.token)
	log := s.log.With("token", c.token, "path", r.URL.Path)
	log.Info("gatewaytest: connect")

	// A browser that goes away during the callback is forgotten at once,
	// without a disconnect callback. The callback itself goes on.
	stop := context.AfterFunc(r.Context(), func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.state == stateConnecting {
			log.Info("gatewaytest: browser left during the connect callback")
			s.endLocked(c, "", false)
		}
	})
	res := s.postCallback(ctx, wire.Callback{Action: wire.ActionConnect, Token: c.token, Request: c.req})
	stop()

	c.mu.Lock()
	if c.state != stateConnecting {
		aborted := c.aborted
		c.mu.Unlock()
		if aborted {
			panic(http.ErrAbortHandler) // Restart: the "process" died under the browser
		}
		return
	}
	switch {
	case res.err != nil:
		s.endLocked(c, "", false)
		c.mu.Unlock()
		if res.timeout {
			log.Warn("gatewaytest: connect callback timed out", "timeout", s.cfg.callbackTimeout)
			writeError(w, http.StatusGatewayTimeout, wire.CodeGatewayTimeout, "Backend did not respond in time")
			return
		}
		log.Warn("gatewaytest: connect callback failed", "err", res.err)
		writeError(w, http.StatusServiceUnavailable, wire.CodeBackendUnavailable, "Backend unavailable")
	case res.status >= 200 && res.status <= 299:
		log.Info("gatewaytest: connect accepted", "status", res.status)
		s.openLocked(c)
		c.mu.Unlock()
		s.pump(c, r)
	case res.status == http.StatusBadRequest || res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
		log.Info("gatewaytest: connect rejected", "status", res.status)
		s.endLocked(c, "", false)
		c.mu.Unlock()
		s.reject(w, res)
	default:
		log.Info("gatewaytest: connect failed", "status", res.status)
		s.endLocked(c, "", false)
		c.mu.Unlock()
		writeError(w, res.status, wire.CodeBackendError, "Backend returned "+strconv.Itoa(res.status))
	}
}

// setSSEHeaders sets the headers of a stream answer.
func setSSEHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
}

// openLocked answers 200, writes the buffered events and (generation 2)
// "ready". c.mu must be held.
func (s *Server) openLocked(c *conn) {
	setSSEHeaders(c.w.Header())
	c.w.WriteHeader(http.StatusOK)
	c.opened = true
	var b []byte
	for _, ev := range c.buf {
		b = appendFrame(b, s.cfg.generation, ev)
	}
	c.buf = nil
	if !c.closePending && s.cfg.generation >= 2 {
		b = append(b, frameReady...)
	}
	err := c.writeLocked(b) // also sends the headers
	switch {
	case err != nil:
		s.endLocked(c, wire.ReasonError, true)
	case c.closePending:
		s.endLocked(c, wire.ReasonServerClosed, true)
	default:
		c.state = stateOpen
	}
}

// pump keeps an open stream alive with heartbeats until it ends.
func (s *Server) pump(c *conn, r *http.Request) {
	t := time.NewTicker(s.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-r.Context().Done():
			c.mu.Lock()
			s.endLocked(c, wire.ReasonClientClosed, true)
			c.mu.Unlock()
			return
		case <-t.C:
			c.mu.Lock()
			if c.state == stateOpen {
				if err := c.writeLocked([]byte(frameHeartbeat)); err != nil {
					s.endLocked(c, wire.ReasonError, true)
				}
			}
			c.mu.Unlock()
		}
	}
}

// reject answers a 400, 401 or 403 from the backend.
func (s *Server) reject(w http.ResponseWriter, res callbackResult) {
	if s.cfg.generation == 1 {
		code := wire.CodeBackendError
		switch res.status {
		case http.StatusUnauthorized:
			code = wire.CodeBackendAuthFailed
		case http.StatusForbidden:
			code = wire.CodeBackendForbidden
		}
		writeError(w, res.status, code, "Backend returned "+strconv.Itoa(res.status))
		return
	}
	data := marshalJSON(struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	}{res.status, res.reason})
	setSSEHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(appendFrame(nil, 2, Event{Name: eventRejected, Data: string(data)}))
}

// endLocked forgets c. With notify, a stream that was opened gets a
// disconnect callback with reason. It does nothing if c already ended.
// c.mu must be held.
func (s *Server) endLocked(c *conn, reason string, notify bool) {
	if c.state == stateEnded {
		return
	}
	c.state = stateEnded
	c.buf = nil
	if c.opened {
		c.reason = reason
		s.log.Info("gatewaytest: stream ended", "token", c.token, "reason", reason)
		if notify {
			s.disconnect(c, reason)
		}
	}
	s.mu.Lock()
	if s.conns[c.token] == c {
		delete(s.conns, c.token)
	}
	s.mu.Unlock()
	close(c.done)
}

// disconnect sends the disconnect callback of c in the background, unless
// LoseNextDisconnects says to lose it or the Server is closed.
func (s *Server) disconnect(c *conn, reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.loseDisc > 0 {
		s.loseDisc--
		s.mu.Unlock()
		s.log.Info("gatewaytest: disconnect callback lost (LoseNextDisconnects)", "token", c.token, "reason", reason)
		return
	}
	s.mu.Unlock()
	cb := wire.Callback{Action: wire.ActionDisconnect, Token: c.token, Reason: reason, Request: c.req}
	s.goTracked(func() {
		// Not tied to s.ctx: Close waits for disconnects already under way.
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.callbackTimeout)
		defer cancel()
		res := s.postCallback(ctx, cb)
		s.log.Debug("gatewaytest: disconnect callback sent", "token", cb.Token, "reason", reason, "status", res.status, "err", res.err)
	})
}

// callbackResult is the outcome of one callback.
type callbackResult struct {
	status  int    // HTTP status of the answer
	reason  string // reason phrase of the answer's status line
	err     error  // no answer
	timeout bool   // err is the callback timeout
}

// postCallback POSTs cb to the callback URL within the callback timeout.
func (s *Server) postCallback(ctx context.Context, cb wire.Callback) callbackResult {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.callbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.callbackURL, bytes.NewReader(marshalCallback(cb)))
	if err != nil {
		return callbackResult{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.cbClient.Do(req)
	if err == nil {
		// The answer counts once its body is read; a 2xx body is ignored
		// (HTTP-only mode).
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCallbackAnswer))
		_ = resp.Body.Close()
	}
	if err != nil {
		return callbackResult{err: err, timeout: errors.Is(ctx.Err(), context.DeadlineExceeded)}
	}
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	if reason == "" {
		reason = http.StatusText(resp.StatusCode)
	}
	return callbackResult{status: resp.StatusCode, reason: reason}
}

// marshalCallback encodes a callback body.
func marshalCallback(cb wire.Callback) []byte {
	b, err := json.Marshal(cb)
	if err != nil {
		panic(fmt.Sprintf("gatewaytest: cannot encode callback: %v", err))
	}
	return b
}

// forwardHeaders returns the browser's headers as the gateway forwards
// them: lower-cased names, repeated headers as arrays, host included, the
// private header of Server.Connect removed.
func forwardHeaders(r *http.Request) wire.Headers {
	h := wire.FromHTTPHeader(r.Header)
	delete(h, strings.ToLower(streamHeader))
	if r.Host != "" {
		h["host"] = wire.HeaderValue{r.Host}
	}
	return h
}

// streamHandlerDone runs the test hook, if any.
func (s *Server) streamHandlerDone(token string) {
	s.mu.Lock()
	f := s.streamDone
	s.mu.Unlock()
	if f != nil {
		f(token)
	}
}
