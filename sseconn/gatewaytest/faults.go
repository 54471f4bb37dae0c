package gatewaytest

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// RefuseConnections makes the gateway unreachable at the TCP level, like a
// gateway process that is not running: it closes the listener, so that a
// new connection is refused (ECONNREFUSED), and it closes idle keep-alive
// connections and every other connection once its current request is
// answered, so that a pooled client has to dial too. Streams already open
// stay open. The port stays reserved meanwhile (on Linux and the BSDs,
// macOS included), so that nobody else can take it. It does nothing if
// connections are already refused or the Server is closed.
// [Server.AcceptConnections] undoes it.
func (s *Server) RefuseConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ln == nil {
		return
	}
	if h, err := holdPort(s.addr); err == nil {
		s.hold = h
	} else {
		s.log.Warn("gatewaytest: cannot hold the port while refusing connections", "err", err)
	}
	_ = s.ln.Close()
	s.ln = nil
	s.srv.SetKeepAlivesEnabled(false) // closes idle connections now
	s.log.Info("gatewaytest: refusing connections")
}

// AcceptConnections listens again on the same address after
// [Server.RefuseConnections], so that [Server.URL] works again. It does
// nothing if the gateway is listening or closed. It panics if the port
// cannot be bound again, which can only happen on platforms where
// RefuseConnections cannot hold it.
func (s *Server) AcceptConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ln != nil {
		return
	}
	ln, err := listen(s.addr)
	if err != nil {
		panic(fmt.Sprintf("gatewaytest: cannot listen on %s again: %v", s.addr, err))
	}
	if s.hold != nil {
		_ = s.hold.Close()
		s.hold = nil
	}
	s.srv.SetKeepAlivesEnabled(true)
	s.serveLocked(ln)
	s.log.Info("gatewaytest: accepting connections")
}

// DelaySends holds every following POST /internal/send for d after its
// body is read and before it is handled, like a slow gateway. Delays of
// concurrent requests run concurrently; the request is handled even if its
// client has given up meanwhile. Zero or negative turns delays off.
func (s *Server) DelaySends(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendDelay = max(d, 0)
}

// FailNextSends makes the next n POST /internal/send requests answer
// status with an HTML body, as a reverse proxy in front of the gateway does
// (for example 502 or 503). The gateway never sees these requests: they are
// not handled, not in [Server.Sends], but counted by [Server.SendAttempts].
// n <= 0 cancels any pending failures. FailNextSends panics if n > 0 and
// status is not a valid HTTP status code.
func (s *Server) FailNextSends(n int, status int) {
	if n > 0 && (status < 100 || status > 999) {
		panic(fmt.Sprintf("gatewaytest: invalid HTTP status %d", status))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSends, s.failStatus = max(n, 0), status
}

// DropStream makes the next write to the stream of token fail, whether it
// is an event of a send, a heartbeat or the opening of a stream still in
// its connect callback. The gateway then answers the send 500 WRITE_FAILED,
// ends the stream and sends a disconnect callback with reason "error". It
// does nothing for a token that is not live.
func (s *Server) DropStream(token string) {
	c := s.lookup(token)
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateEnded {
		c.dropped = true
		s.log.Info("gatewaytest: stream will fail on its next write", "token", token)
	}
}

// LoseNextDisconnects makes the gateway lose the next n disconnect
// callbacks: the streams end as usual but the backend is not told. n <= 0
// cancels any pending losses.
func (s *Server) LoseNextDisconnects(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loseDisc = max(n, 0)
}

// Restart emulates a gateway restart: every token is forgotten (sends
// answer 404 TOKEN_NOT_FOUND), open streams end, connections still in their
// connect callback are aborted and their callbacks cancelled, idle
// keep-alive connections are closed, and no disconnect callback is sent.
// The gateway keeps listening on the same address (unless connections are
// refused), and keeps its fault settings and its [Server.Sends] log.
func (s *Server) Restart() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	clear(s.conns)
	clear(s.streamTokens)
	s.srv.SetKeepAlivesEnabled(false) // closes idle connections
	if s.ln != nil {
		s.srv.SetKeepAlivesEnabled(true)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		if c.state == stateConnecting {
			c.aborted = true
			c.cancel()
		}
		s.endLocked(c, "", false)
		c.mu.Unlock()
	}
	s.log.Info("gatewaytest: restarted", "forgotten", len(conns))
}

// Sends returns the body of every well-formed POST /internal/send the
// gateway handled, in the order it handled them, including no-op probes and
// sends answered 404. Requests answered 400 or 413, and those failed by
// [Server.FailNextSends], are not included.
func (s *Server) Sends() []SendRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SendRequest, len(s.sends))
	for i, r := range s.sends {
		if r.Event != nil {
			ev := *r.Event
			r.Event = &ev
		}
		out[i] = r
	}
	return out
}

// SendAttempts returns the number of POST /internal/send requests received
// so far, whatever their answer, including those failed by
// [Server.FailNextSends].
func (s *Server) SendAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sendAttempts
}

// Tokens returns the live tokens, sorted: those of open streams and of
// connections whose connect callback is still running. A send to any other
// token answers 404.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.conns))
	for t := range s.conns {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// WaitGone blocks until token is not live any more (its stream ended, its
// connect was rejected, its browser left during the callback, or
// [Server.Restart] forgot it) or ctx is done, and then returns ctx.Err().
// It returns nil at once for a token that is not live. When it returns nil,
// the disconnect callback of the stream, if one is due, has been started
// (or lost), and [Server.Close] waits for its delivery.
func (s *Server) WaitGone(ctx context.Context, token string) error {
	c := s.lookup(token)
	if c == nil {
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
