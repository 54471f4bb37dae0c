package amqp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/ssegate/ssegate/internal/optcheck"
)

// Publisher publishes gateway events to the broker's topic exchange, waits
// for the broker's confirm of each, and keeps its connection up: when the
// connection is lost, publishing fails at once with [ErrNotConnected] while
// a supervisor goroutine reconnects with exponential backoff.
//
// A Publisher is safe for concurrent use. Publishes are written to the
// channel one at a time, under a lock that is not held while waiting for
// the confirm, so concurrent publishes share the confirm round trip.
// [Publisher.Close] waits for in-flight publishes and stops the supervisor.
type Publisher struct {
	cfg      config
	url      string // the broker URL with its password: never log it
	redacted string // the broker URL for logs and errors
	exchange string
	tel      *instruments
	nextID   atomic.Uint64 // message IDs of mandatory publishes

	// lane is a one-slot semaphore held while a message is written to the
	// channel: amqp091 numbers confirms in the order of the writes. It is
	// a channel so that waiting for it respects the context.
	lane chan struct{}

	mu       sync.RWMutex   // guards sess and closed
	sess     *session       // nil while disconnected
	closed   bool           // set by Close; no publish starts after
	inflight sync.WaitGroup // publishes that started before Close

	stop      context.Context // canceled by Close: stops the supervisor and its dials
	cancel    context.CancelFunc
	done      chan struct{} // closed when the supervisor has exited
	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the broker at url (amqp:// or amqps://, see
// [amqp091.ParseURI] for the format), opens a channel in confirm mode and
// declares the gateway's durable topic exchange, "sse.events" or
// "<prefix>.sse.events" with [WithEnvPrefix]. It then starts the goroutine
// that reconnects when the connection is lost; call [Publisher.Close] to
// stop it.
//
// The first connection is bounded by ctx and [WithDialTimeout] and is not
// retried: Dial fails, with an error that names the broker URL without its
// password and wraps the cause, when the broker is unreachable or refuses
// the login or the exchange declaration. Before any I/O, it fails with an
// error wrapping [ErrInvalidConfig] for an invalid URL or option, every
// problem reported and joined with [errors.Join].
func Dial(ctx context.Context, url string, opts ...Option) (*Publisher, error) {
	cfg := newConfig(opts)
	redacted, err := redactURL(url)
	if err != nil {
		cfg.problems = append(optcheck.Problems{err}, cfg.problems...)
	}
	if err := cfg.problems.Err(ErrInvalidConfig); err != nil {
		return nil, err
	}
	tel, err := newInstruments(cfg.meterProvider, cfg.tracerProvider)
	if err != nil {
		return nil, fmt.Errorf("amqp: create instruments: %w", err)
	}
	p := &Publisher{
		cfg:      cfg,
		url:      url,
		redacted: redacted,
		exchange: cfg.exchange(),
		tel:      tel,
		lane:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s, err := p.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("amqp: connect to %s: %w", redacted, err)
	}
	p.sess = s
	p.stop, p.cancel = context.WithCancel(context.Background())
	go p.supervise(s)
	cfg.logger.Info("amqp: connected", "broker", redacted, "exchange", p.exchange)
	return p, nil
}

// Connected reports whether the publisher is connected to the broker now.
// A publish while it is not fails with [ErrNotConnected].
func (p *Publisher) Connected() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.sess != nil && !p.closed
}

// Exchange returns the name of the exchange the publisher publishes to.
func (p *Publisher) Exchange() string { return p.exchange }

// Close stops the publisher: publishes called after it fail with
// [ErrClosed]. It waits for the publishes in flight to finish (each is
// bounded by its timeout), stops the reconnecting goroutine and closes the
// connection. It returns the error of closing the connection, if any, and
// returns the same on every call.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.inflight.Wait()
		p.cancel()
		<-p.done
		p.mu.Lock()
		s := p.sess
		p.sess = nil
		p.mu.Unlock()
		if s != nil {
			p.closeErr = s.close()
		}
		p.cfg.logger.Info("amqp: closed", "broker", p.redacted)
	})
	return p.closeErr
}

// supervise watches the session for its loss and then reconnects, until
// Close cancels p.stop. It leaves the last session open for Close.
func (p *Publisher) supervise(s *session) {
	defer close(p.done)
	for {
		err, lost := p.watch(s)
		if !lost {
			return
		}
		p.mu.Lock()
		p.sess = nil
		p.mu.Unlock()
		p.tel.losses.Add(context.Background(), 1)
		p.cfg.logger.Warn("amqp: connection lost", "broker", p.redacted, "err", err)
		// A lost channel can leave the connection open.
		_ = s.close()
		p.notify(false)

		s = p.reconnect()
		if s == nil {
			return
		}
		p.mu.Lock()
		p.sess = s
		p.mu.Unlock()
		p.cfg.logger.Info("amqp: reconnected", "broker", p.redacted)
		p.notify(true)
	}
}

// watch waits until s is lost (lost true, with the cause if known) or Close
// is called (lost false). It tracks the broker's blocking of the
// connection meanwhile.
func (p *Publisher) watch(s *session) (cause error, lost bool) {
	blocks := s.blocks
	for {
		select {
		case <-p.stop.Done():
			return nil, false
		case e, ok := <-s.connClosed:
			if ok && e != nil {
				return e, true
			}
			return amqp091.ErrClosed, true
		case e, ok := <-s.chClosed:
			if ok && e != nil {
				return fmt.Errorf("channel closed: %w", e), true
			}
			return fmt.Errorf("channel closed: %w", amqp091.ErrClosed), true
		case b, ok := <-blocks:
			if !ok {
				blocks = nil
				continue
			}
			s.blocked.Store(b.Active)
			if b.Active {
				p.cfg.logger.Warn("amqp: connection blocked by the broker", "broker", p.redacted, "reason", b.Reason)
			} else {
				p.cfg.logger.Info("amqp: connection unblocked", "broker", p.redacted)
			}
		}
	}
}

// reconnect dials with exponential backoff and jitter until it succeeds
// (the new session) or Close is called (nil).
func (p *Publisher) reconnect() *session {
	delay := p.cfg.minBackoff
	timer := time.NewTimer(0)
	defer timer.Stop()
	for attempt := 1; ; attempt++ {
		// Equal jitter: between half the delay and the full delay.
		wait := delay/2 + rand.N(delay/2+1)
		timer.Reset(wait)
		select {
		case <-p.stop.Done():
			return nil
		case <-timer.C:
		}
		s, err := p.connect(p.stop)
		if err == nil {
			p.tel.reconnects.Add(context.Background(), 1, outcomeAttr(outcomeOK))
			return s
		}
		if p.stop.Err() != nil {
			return nil
		}
		p.tel.reconnects.Add(context.Background(), 1, outcomeAttr(outcomeError))
		p.cfg.logger.Warn("amqp: reconnect failed", "broker", p.redacted, "attempt", attempt, "err", err)
		delay = min(delay*2, p.cfg.maxBackoff)
	}
}

func (p *Publisher) notify(connected bool) {
	if p.cfg.onState != nil {
		p.cfg.onState(connected)
	}
}

// redactURL returns url with its password replaced by "xxxxx", or an error
// that does not quote url when url is not a valid AMQP URL.
func redactURL(raw string) (string, error) {
	if _, err := amqp091.ParseURI(raw); err != nil {
		// A *url.Error quotes the URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			return "", errors.New("invalid broker URL (is a reserved character in the user name or password not percent-encoded?)")
		}
		return "", fmt.Errorf("invalid broker URL: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("invalid broker URL")
	}
	return u.Redacted(), nil
}
