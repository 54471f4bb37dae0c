package sseconn

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/ssegate/ssegate/internal/errs"
	"github.com/ssegate/ssegate/internal/optcheck"
	"github.com/ssegate/ssegate/internal/wire"
)

// Manager maps identifiers such as "task:42" to the gateway tokens of the
// browsers' streams, and sends events to them through the gateway's
// POST /internal/send.
//
// All methods are safe for concurrent use. Sends to one identifier reach the
// gateway in the order the calls were made; sends to different identifiers
// proceed in parallel. No lock is held during I/O.
type Manager struct {
	sendURL string
	sendReq *http.Request         // template of every send: POST sendURL
	doer    Doer                  // nil when rc is set
	rc      *retryablehttp.Client // the default doer, called directly
	cfg     config
	tel     *instruments
	log     *slog.Logger

	deadlines *sharedDeadlines // bounds each send by cfg.timeout

	mu       sync.Mutex // guards maps, lanes and closed; inflight.Add happens under it
	maps     mappings   // identifier <-> token
	lanes    lanes      // per-identifier FIFO of sends
	closed   bool
	inflight sync.WaitGroup // sends, registrations' closes and sweeps under way

	stopSweep context.CancelFunc // nil without sweeper
	sweepDone chan struct{}
}

// New returns a manager that sends to the gateway at gatewayURL, the base
// URL of the gateway's internal listener such as "http://127.0.0.1:3000".
//
// It fails with an error wrapping [ErrInvalidConfig] if gatewayURL is not
// an absolute http or https URL or an option is invalid, every problem
// reported and joined with [errors.Join], and with another error if the
// instruments cannot be created.
//
// With [WithSweepInterval] it starts the sweeper goroutine, which
// [Manager.Shutdown] stops.
func New(gatewayURL string, opts ...Option) (*Manager, error) {
	cfg := newConfig(opts)
	u, err := url.Parse(gatewayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		cfg.problems = append(optcheck.Problems{fmt.Errorf("gateway URL %q is not an absolute http(s) URL", gatewayURL)}, cfg.problems...)
	}
	if err := cfg.problems.Err(ErrInvalidConfig); err != nil {
		return nil, err
	}
	tel, err := newInstruments(cfg.meterProvider, cfg.tracerProvider)
	if err != nil {
		return nil, fmt.Errorf("sseconn: create instruments: %w", err)
	}
	m := &Manager{
		sendURL: strings.TrimSuffix(u.String(), "/") + wire.SendPath,
		doer:    cfg.doer,
		cfg:     cfg,
		tel:     tel,
		log:     cfg.logger,
		maps:    newMappings(),

		deadlines: newSharedDeadlines(cfg.timeout),
	}
	if m.sendReq, err = http.NewRequest(http.MethodPost, m.sendURL, nil); err != nil {
		return nil, fmt.Errorf("sseconn: gateway URL %q: %w", gatewayURL, err)
	}
	if m.doer == nil {
		m.rc = newRetryClient(cfg.retry, nil, nil)
		m.rc.PrepareRetry = rewindBody
	}
	if cfg.sweepEvery > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		m.stopSweep = cancel
		m.sweepDone = make(chan struct{})
		go m.sweepLoop(ctx)
	}
	return m, nil
}

// begin registers an operation that Shutdown waits for. It reports false
// once Shutdown has begun.
func (m *Manager) begin() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.inflight.Add(1)
	return true
}

// Register maps identifier to the stream token, as a connect handler does.
//
// If identifier already had a different token, that stream is replaced: the
// old token is closed at the gateway, best-effort, in the background (Register
// does not wait for it; [Manager.Shutdown] does), and the old token's late
// disconnect will not remove the new mapping.
// Registering the same token twice is a no-op.
//
// Register returns [ErrInvalidIdentifier] for an empty identifier or token,
// [ErrTokenInUse] if token is registered under another identifier and
// [ErrShutdown] after Shutdown. A failure to close the old stream is logged,
// not returned: the new mapping is in place either way.
func (m *Manager) Register(ctx context.Context, identifier, token string) error {
	if identifier == "" || token == "" {
		return errs.Wrapf("sseconn", ErrInvalidIdentifier, "register %s", Kind(identifier))
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errs.Wrapf("sseconn", ErrShutdown, "register %s", Kind(identifier))
	}
	if id, ok := m.maps.owner(token); ok {
		m.mu.Unlock()
		if id == identifier {
			return nil
		}
		return errs.Wrapf("sseconn", ErrTokenInUse, "register %s", Kind(identifier))
	}
	old, replaced := m.maps.put(identifier, token)
	if replaced {
		m.inflight.Add(1)
	}
	m.mu.Unlock()

	m.tel.connected(ctx, identifier, replaced)
	m.log.DebugContext(ctx, "sseconn: registered", "kind", Kind(identifier), "replaced", replaced)
	if replaced {
		// Closing the replaced stream is not the new stream's business: it
		// runs in the background, so that a slow gateway cannot push the
		// connect callback towards its 5 s timeout. Shutdown waits for it.
		go func() {
			defer m.inflight.Done()
			if _, err := m.postTimed(context.WithoutCancel(ctx), identifier, old, nil, true, opReplace); err != nil {
				m.log.WarnContext(ctx, "sseconn: closing the replaced stream failed", "kind", Kind(identifier), "error", err)
			}
		}()
	}
	return nil
}

// Unregister removes the mapping of token, as a disconnect handler does. It
// removes the identifier's mapping only if the identifier still maps to this
// token: a stale token, already replaced, just loses its reverse entry.
// Unregister reports whether it removed the live mapping.
func (m *Manager) Unregister(token string) bool {
	m.mu.Lock()
	identifier, ok := m.maps.owner(token)
	if !ok {
		m.mu.Unlock()
		return false
	}
	// The mappings mirror each other: the owner of a registered token
	// always maps to it.
	live := m.maps.removeIf(identifier, tokenRefOf(token)) || m.maps.removeIf(identifier, tokenRef{s: token})
	m.mu.Unlock()
	if live {
		m.tel.removed(context.Background(), identifier, reasonUnregister)
	}
	return live
}

// removeIf deletes identifier's mapping if it still holds token: the
// compare-and-delete that keeps a fresh replacement alive. It reports
// whether it removed the mapping.
func (m *Manager) removeIf(ctx context.Context, identifier string, token tokenRef, reason string) bool {
	m.mu.Lock()
	live := m.maps.removeIf(identifier, token)
	m.mu.Unlock()
	if live {
		m.tel.removed(ctx, identifier, reason)
	}
	return live
}

// Connected reports whether identifier has a registered stream. The answer
// may be stale as soon as it is returned: to send, call [Manager.Send] and
// handle [ErrNotConnected] instead of checking first.
func (m *Manager) Connected(identifier string) bool {
	_, ok := m.Token(identifier)
	return ok
}

// Token returns the gateway token registered for identifier.
func (m *Manager) Token(identifier string) (string, bool) {
	m.mu.Lock()
	t, ok := m.maps.get(identifier)
	m.mu.Unlock()
	if !ok {
		return "", false
	}
	return t.String(), true
}

// Len returns the number of live mappings.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maps.len()
}

// Identifiers returns the registered identifiers that filter selects, in no
// particular order. A nil filter selects all. The filter is called without
// the manager's lock held, so it may call the manager.
func (m *Manager) Identifiers(filter func(identifier string) bool) []string {
	m.mu.Lock()
	ids := make([]string, 0, m.maps.len())
	m.maps.each(func(id string, _ tokenRef) { ids = append(ids, id) })
	m.mu.Unlock()
	if filter == nil {
		return ids
	}
	return slices.DeleteFunc(ids, func(id string) bool { return !filter(id) })
}

// Shutdown stops the manager: new sends and registrations fail with
// [ErrShutdown], the sweeper stops, and Shutdown waits for in-flight sends.
// With [WithCloseOnShutdown] it then closes every registered stream at the
// gateway. It returns ctx's error if ctx ends first; the in-flight sends
// still end within their own timeouts. Calling Shutdown again waits again.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	if m.stopSweep != nil {
		m.stopSweep()
		select {
		case <-m.sweepDone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan struct{})
	go func() {
		m.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if m.cfg.closeOnStop {
		m.closeAll(ctx)
	}
	if m.rc != nil {
		m.rc.HTTPClient.CloseIdleConnections()
	} else if c, ok := m.doer.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return ctx.Err()
}

// closeAll closes every registered stream, with bounded concurrency.
func (m *Manager) closeAll(ctx context.Context) {
	pairs := m.pairs()
	m.parallel(len(pairs), func(i int) {
		id, tok := pairs[i].identifier, pairs[i].token
		if _, err := m.postTimed(context.WithoutCancel(ctx), id, tok, nil, true, opShutdown); err != nil {
			m.log.WarnContext(ctx, "sseconn: closing a stream at shutdown failed", "kind", Kind(id), "error", err)
		}
	})
}

// pair is one mapping.
type pair struct {
	identifier string
	token      tokenRef
}

// pairs returns every mapping.
func (m *Manager) pairs() []pair {
	m.mu.Lock()
	defer m.mu.Unlock()
	ps := make([]pair, 0, m.maps.len())
	m.maps.each(func(id string, tok tokenRef) { ps = append(ps, pair{id, tok}) })
	return ps
}

// parallel runs fn(0..n-1) with at most cfg.concurrency at once and waits.
// A fixed set of workers takes the indexes in order, so that a broadcast
// to many identifiers starts a few goroutines, not one per identifier.
func (m *Manager) parallel(n int, fn func(i int)) {
	workers := min(m.cfg.concurrency, n)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
