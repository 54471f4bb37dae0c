package sseconn

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of the options.
const (
	// DefaultTimeout bounds one send, waiting for earlier sends to the same
	// identifier and retries included. A send made from a connect handler
	// must finish well inside the gateway's 5 s callback timeout.
	DefaultTimeout = 2 * time.Second

	// DefaultMaxBodyBytes is the gateway's limit for a whole /internal/send
	// request body.
	DefaultMaxBodyBytes = 100 * 1024

	// DefaultBroadcastConcurrency is the number of sends a broadcast runs at
	// once.
	DefaultBroadcastConcurrency = 8
)

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
}

func newConfig(opts []Option) config {
	c := config{
		timeout:     DefaultTimeout,
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
	return c
}

// WithDoer sets the HTTP client that carries sends to the gateway. An
// *http.Client satisfies [Doer]. A Doer passed here is used as is: retries
// are its own business. Nil means the default: a go-retryablehttp client with
// a pooled keep-alive transport and the [RetryPolicy] of [WithRetryPolicy].
func WithDoer(d Doer) Option {
	return optionFunc(func(c *config) { c.doer = d })
}

// WithTimeout bounds each send, including the wait for earlier sends to the
// same identifier and every retry. Zero or negative means [DefaultTimeout].
// A shorter deadline on the caller's context wins.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithRetryPolicy sets the retry policy of the default doer. It has no
// effect together with [WithDoer].
func WithRetryPolicy(p RetryPolicy) Option {
	return optionFunc(func(c *config) { c.retry = p })
}

// WithLogger sets the logger. Nil means silent. The manager logs
// identifiers' kinds and outcomes, never identifiers or tokens.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMeterProvider sets the meter provider. Nil means the global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the tracer provider. Nil means the global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// WithMaxBodyBytes sets the largest /internal/send request body the manager
// will send; larger events fail with [ErrTooLarge] before any I/O. Zero or
// negative means [DefaultMaxBodyBytes], the reference gateway's limit.
func WithMaxBodyBytes(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxBody = n
		}
	})
}

// WithSweepInterval starts the reconciliation sweeper: every d it probes
// each registered token with the gateway's empty no-op send and drops the
// mappings whose token the gateway no longer knows. Disconnect callbacks are
// best-effort, so without a sweeper (the default, d <= 0) mappings of
// streams whose disconnect was lost stay until a send answers 404.
func WithSweepInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sweepEvery = d })
}

// WithBroadcastConcurrency sets how many sends [Manager.Broadcast] and
// [Manager.Sweep] run at once. Zero or negative means
// [DefaultBroadcastConcurrency].
func WithBroadcastConcurrency(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.concurrency = n
		}
	})
}

// WithCloseOnShutdown makes [Manager.Shutdown] close every registered
// stream at the gateway once in-flight sends have finished.
func WithCloseOnShutdown(b bool) Option {
	return optionFunc(func(c *config) { c.closeOnStop = b })
}
