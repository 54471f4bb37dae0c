package sseconn

import (
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/optcheck"
)

// Defaults of the options.
const (
	// DefaultSendTimeout bounds one send, waiting for earlier sends to the
	// same identifier and retries included. A send made from a connect
	// handler must finish well inside the gateway's 5 s callback timeout.
	DefaultSendTimeout = 2 * time.Second

	// DefaultMaxBodyBytes is the gateway's limit for a whole /internal/send
	// request body.
	DefaultMaxBodyBytes = 100 * 1024

	// DefaultBroadcastConcurrency is the number of sends a broadcast runs at
	// once.
	DefaultBroadcastConcurrency = 8
)

// ErrInvalidConfig is wrapped by every error [New] returns for a
// misconfiguration: a bad gateway URL or a bad option. Each problem is
// reported, joined with [errors.Join].
var ErrInvalidConfig = errors.New("sseconn: invalid configuration")

// Option configures a [Manager].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	doer           Doer
	timeout        time.Duration
	retry          RetryPolicy
	logger         *slog.Logger
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	maxBody        int
	sweepEvery     time.Duration
	concurrency    int
	closeOnStop    bool
	problems       optcheck.Problems
}

func newConfig(opts []Option) config {
	c := config{
		timeout:     DefaultSendTimeout,
		retry:       DefaultRetryPolicy,
		maxBody:     DefaultMaxBodyBytes,
		concurrency: DefaultBroadcastConcurrency,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.retry = c.retry.withDefaults()
	for _, err := range c.retry.problems() {
		c.problems.Addf("WithRetryPolicy", "%w", err)
	}
	return c
}

// WithDoer sets the HTTP client that carries sends to the gateway. An
// *http.Client satisfies [Doer]. A Doer passed here is used as is: retries
// are its own business. Nil means the default: a go-retryablehttp client with
// a pooled keep-alive transport and the [RetryPolicy] of [WithRetryPolicy].
func WithDoer(d Doer) Option {
	return optionFunc(func(c *config) { c.doer = d })
}

// WithSendTimeout bounds each send, including the wait for earlier sends to
// the same identifier and every retry. Zero means [DefaultSendTimeout]; a
// negative d makes [New] fail. A shorter deadline on the caller's context
// wins.
//
// Sends whose context can never be canceled (context.Background, say)
// share one timer per d/64, at most 4 ms, instead of starting one each: such
// a send may run up to that much longer than d.
func WithSendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithSendTimeout", &c.timeout, d) })
}

// WithRetryPolicy sets the retry policy of the default doer. A zero field
// of p means that field of [DefaultRetryPolicy]; a negative field, or a
// MaxBackoff below MinBackoff, makes [New] fail. It has no effect together
// with [WithDoer].
func WithRetryPolicy(p RetryPolicy) Option {
	return optionFunc(func(c *config) { c.retry = p })
}

// WithLogger sets the logger. Nil means the default, which discards
// everything. The manager logs identifiers' kinds and outcomes, never
// identifiers or tokens.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMeterProvider sets the meter provider. Nil means the OpenTelemetry
// global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the tracer provider. Nil means the OpenTelemetry
// global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// WithMaxBodyBytes sets the largest /internal/send request body the manager
// will send; larger events fail with [ErrTooLarge] before any I/O. Zero
// means [DefaultMaxBodyBytes], the reference gateway's limit; a negative n
// makes [New] fail.
func WithMaxBodyBytes(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithMaxBodyBytes", &c.maxBody, n) })
}

// WithSweepInterval starts the reconciliation sweeper: every d it probes
// each registered token with the gateway's empty no-op send and drops the
// mappings whose token the gateway no longer knows. Disconnect callbacks are
// best-effort, so without a sweeper (zero, the default) mappings of
// streams whose disconnect was lost stay until a send answers 404. A
// negative d makes [New] fail.
func WithSweepInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithSweepInterval", &c.sweepEvery, d) })
}

// WithBroadcastConcurrency sets how many sends [Manager.Broadcast] and
// [Manager.Sweep] run at once. Zero means [DefaultBroadcastConcurrency]; a
// negative n makes [New] fail.
func WithBroadcastConcurrency(n int) Option {
	return optionFunc(func(c *config) {
		optcheck.Set(&c.problems, "WithBroadcastConcurrency", &c.concurrency, n)
	})
}

// WithCloseOnShutdown makes [Manager.Shutdown] close every registered
// stream at the gateway once in-flight sends have finished.
func WithCloseOnShutdown(b bool) Option {
	return optionFunc(func(c *config) { c.closeOnStop = b })
}
