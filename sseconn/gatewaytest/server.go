package gatewaytest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ssegate/ssegate/internal/wire"
)

// A Server is an in-process gateway listening on a real loopback TCP port.
// It speaks the callback-style SSE gateway protocol (docs/protocol.md) to
// a backend at the callback URL, and to browsers: GET on any path
// other than /internal/send, /healthz and /readyz opens a stream.
//
// All methods are safe for concurrent use. [Server.Close] stops everything
// the Server started and waits for it, like [net/http/httptest.Server.Close].
type Server struct {
	// URL is the gateway's base URL, http://127.0.0.1:<port>, with no
	// trailing slash. It does not change for the life of the Server, not
	// even across [Server.RefuseConnections] and [Server.AcceptConnections].
	URL string

	cfg         config
	log         *slog.Logger
	callbackURL string
	logCallback string // callbackURL without its query string, for logs
	addr        string // host:port of URL

	srv      *http.Server
	cbClient *http.Client // connect and disconnect callbacks
	client   *http.Client // browser side: Server.Connect

	ctx    context.Context // cancelled by Close: aborts connect callbacks and delayed sends
	cancel context.CancelFunc

	// wg counts Serve goroutines, accepted connections (from StateNew to
	// StateClosed), disconnect callbacks and client stream readers.
	wg sync.WaitGroup

	// sendMu serializes /internal/send: the reference gateway handles one
	// request at a time.
	sendMu sync.Mutex

	mu           sync.Mutex            // guards every field below
	closed       bool                  // Close was called
	ln           net.Listener          // nil while refusing connections
	hold         *portHold             // holds the port while refusing connections, if the platform can
	netConns     map[net.Conn]struct{} // accepted connections not yet closed
	conns        map[string]*conn      // live tokens
	streamTokens map[string]string     // Connect's stream id -> token
	streams      map[*Stream]struct{}  // open client streams
	sends        []SendRequest         // well-formed /internal/send bodies
	sendAttempts int                   // every POST /internal/send
	sendDelay    time.Duration         // DelaySends
	failSends    int                   // FailNextSends count
	failStatus   int                   // FailNextSends status
	loseDisc     int                   // LoseNextDisconnects count
	streamDone   func(token string)    // test hook: an SSE handler returned
}

// NewServer starts a gateway on 127.0.0.1 and a free port, which calls the
// backend at callbackURL. The callback URL is used as written, query string
// included, which is how a shared secret travels:
// http://127.0.0.1:8080/api/sse/callback?secret=s3cr3t. With an empty
// callbackURL the gateway is not ready: /readyz and every stream request
// answer 503, like the reference gateway without CALLBACK_URL.
//
// Like [net/http/httptest.NewServer], NewServer has no error result: it
// panics if it cannot listen, and it panics with an error wrapping
// [ErrInvalidConfig], every problem joined, for an option that can never
// be right (a negative duration or size, a generation other than 1 or 2).
// Such a value is a mistake in the test, not a condition to handle; zero
// and nil always mean the defaults. The caller must call [Server.Close].
func NewServer(callbackURL string, opts ...Option) *Server {
	cfg := newConfig(opts)
	if err := cfg.problems.Err(ErrInvalidConfig); err != nil {
		panic(err)
	}
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("gatewaytest: failed to listen on a port: %v", err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		URL:          "http://" + ln.Addr().String(),
		cfg:          cfg,
		log:          cfg.logger,
		callbackURL:  callbackURL,
		logCallback:  redactURL(callbackURL),
		addr:         ln.Addr().String(),
		ctx:          ctx,
		cancel:       cancel,
		netConns:     make(map[net.Conn]struct{}),
		conns:        make(map[string]*conn),
		streamTokens: make(map[string]string),
		streams:      make(map[*Stream]struct{}),
	}
	s.cbClient = &http.Client{
		Transport: newTransport(),
		// The callback's answer is the status it carries: a redirect is
		// "other non-2xx", not something to follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.client = &http.Client{Transport: newTransport()}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.route),
		ConnState:         s.connState,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.logger.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.serveLocked(ln)
	s.mu.Unlock()
	s.log.Info("gatewaytest: listening", "url", s.URL, "generation", cfg.generation, "callback", s.logCallback)
	return s
}

// newTransport returns a private keep-alive transport that ignores proxy
// settings from the environment: everything is on loopback.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
}

// redactURL drops the query string and user info of u, which may carry
// secrets, for logging.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid)"
	}
	p.RawQuery, p.User, p.Fragment = "", nil, ""
	return p.String()
}

// serveLocked serves ln in a new goroutine. s.mu must be held.
func (s *Server) serveLocked(ln net.Listener) {
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(ln) // returns when ln is closed
	}()
}

// connState tracks accepted connections so that Close can wait for them, as
// httptest.Server does.
func (s *Server) connState(c net.Conn, cs http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch cs {
	case http.StateNew:
		// Called on the Serve goroutine, which holds a count of s.wg.
		s.wg.Add(1)
		s.netConns[c] = struct{}{}
		if s.closed {
			_ = c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		if _, ok := s.netConns[c]; ok {
			delete(s.netConns, c)
			s.wg.Done()
		}
	}
}

// Close shuts the gateway down, like a gateway process that stops, and
// waits for everything it started: it stops listening, ends every stream
// (without disconnect callbacks), aborts connect callbacks in flight, closes
// the streams opened with [Server.Connect], closes every connection, and
// waits for the handlers and for disconnect callbacks already under way
// (each bounded by the callback timeout). Close may be called more than
// once; later calls do nothing.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if s.hold != nil {
		_ = s.hold.Close()
		s.hold = nil
	}
	streams := make([]*Stream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	s.ln = nil
	s.mu.Unlock()

	s.cancel()
	for _, st := range streams {
		st.Close()
	}

	// End every stream, then give their handlers a moment to finish their
	// responses before cutting the connections: a stream that the backend
	// closed just before (close:true) ends cleanly, as on the reference
	// gateway, which ends it before answering that send.
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		s.endLocked(c, "", false)
		c.mu.Unlock()
	}
	sctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	_ = s.srv.Shutdown(sctx)
	cancel()
	_ = s.srv.Close()

	s.wg.Wait()
	if s.cfg.broker != nil {
		if err := s.cfg.broker.Close(); err != nil {
			s.log.Warn("gatewaytest: close broker", "err", err)
		}
	}
	s.cbClient.CloseIdleConnections()
	s.client.CloseIdleConnections()
	s.log.Info("gatewaytest: closed", "url", s.URL)
}

// closeGrace bounds how long Close waits for the handlers of ended streams
// to finish their responses.
const closeGrace = time.Second

// route dispatches a request like the reference gateway's Express app.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if s.cfg.corsOrigin != "" {
		s.setCORS(w.Header())
		if r.Method == http.MethodOptions {
			s.preflight(w, r)
			return
		}
	}
	switch {
	case r.URL.Path == wire.SendPath:
		if r.Method != http.MethodPost {
			writeNotFound(w, r)
			return
		}
		s.serveSend(w, r)
	case r.URL.Path == "/healthz" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	case r.URL.Path == "/readyz" && r.Method == http.MethodGet:
		if s.callbackURL == "" {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not_ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	case r.Method == http.MethodGet:
		s.serveStream(w, r)
	default:
		writeNotFound(w, r)
	}
}

// setCORS sets the headers Express's cors({origin}) sets on every response.
func (s *Server) setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", s.cfg.corsOrigin)
	if s.cfg.corsOrigin != "*" {
		h.Add("Vary", "Origin")
	}
}

// preflight answers an OPTIONS request like Express's cors() middleware.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

// writeNotFound answers like Express for a route it does not have.
func writeNotFound(w http.ResponseWriter, r *http.Request) {
	writeHTML(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path)
}

// addConn records c as live. It reports false once the Server is closed.
func (s *Server) addConn(c *conn, streamID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c.token] = c
	if streamID != "" {
		s.streamTokens[streamID] = c.token
	}
	return true
}

// lookup returns the live conn of token, or nil.
func (s *Server) lookup(token string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[token]
}

// goTracked runs f in a goroutine that Close waits for. It reports false,
// and does not run f, once the Server is closed.
func (s *Server) goTracked(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}
