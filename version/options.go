package version

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
)

// Defaults of [Notifier].
const (
	DefaultPath               = "/api/sse/utils/version" // see WithPath
	DefaultParam              = "request_id"             // see WithPath
	DefaultPendingLimit       = 16                       // see WithPendingLimit
	DefaultPendingTTL         = 10 * time.Minute         // see WithPendingTTL
	DefaultMaxPendingRequests = 10000                    // see WithMaxPendingRequests
	DefaultSendTimeout        = 2 * time.Second          // see WithSendTimeout
)

// Kind is the kind of every identifier this package uses:
// "version:<request_id>".
const Kind = "version"

// config is the notifier's configuration after options.
type config struct {
	path, param        string
	matcher            callback.Matcher
	pendingLimit       int
	pendingTTL         time.Duration
	maxPendingRequests int
	sendTimeout        time.Duration
	logger             *slog.Logger
	now                func() time.Time
	meterProvider      metric.MeterProvider
	gateway            bus.Gateway
}

func defaultConfig() config {
	return config{
		path:               DefaultPath,
		param:              DefaultParam,
		pendingLimit:       DefaultPendingLimit,
		pendingTTL:         DefaultPendingTTL,
		maxPendingRequests: DefaultMaxPendingRequests,
		sendTimeout:        DefaultSendTimeout,
		logger:             slog.New(slog.DiscardHandler),
		now:                time.Now,
	}
}

// Option configures a [Notifier].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPendingLimit bounds the events kept pending for one request id. When
// a new event would exceed it, the oldest pending event is dropped (counted
// and logged). Zero or negative means [DefaultPendingLimit] (16).
func WithPendingLimit(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.pendingLimit = n
		}
	})
}

// WithPendingTTL sets how long a pending event is kept before it expires
// and is removed. Zero or negative means [DefaultPendingTTL] (10 min).
func WithPendingTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.pendingTTL = d
		}
	})
}

// WithMaxPendingRequests bounds the number of request ids that have
// pending events. When one more would exceed it, the pending events of the
// request id notified least recently are dropped (counted and logged).
// Zero or negative means [DefaultMaxPendingRequests] (10000).
func WithMaxPendingRequests(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxPendingRequests = n
		}
	})
}

// WithPath sets the route of [Notifier.Matcher]: streams opened on path
// with the request id in the query parameter param, so that the matcher is
// callback.Query("version", path, param). Empty arguments keep the
// defaults ([DefaultPath], [DefaultParam]).
func WithPath(path, param string) Option {
	return optionFunc(func(c *config) {
		if path != "" {
			c.path = path
		}
		if param != "" {
			c.param = param
		}
	})
}

// WithMatcher replaces the route of [Notifier.Matcher] entirely. m must
// yield identifiers "version:<request_id>"; a connect with any other
// identifier fails. nil means the default query matcher (see [WithPath]).
func WithMatcher(m callback.Matcher) Option {
	return optionFunc(func(c *config) { c.matcher = m })
}

// WithSendTimeout bounds each send, and everything [Notifier.Connect] does
// after registering the stream: waiting for a flush in progress, asking the
// [Source] and sending. Zero or negative means
// [DefaultSendTimeout] (2 s): everything done on connect must finish well
// inside the gateway's 5 s callback timeout.
func WithSendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.sendTimeout = d
		}
	})
}

// WithLogger sets the logger. nil means no logging.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithClock sets the clock used for pending-event expiry. nil means
// time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithMeterProvider sets the OpenTelemetry meter provider. nil means the
// global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithGateway runs the Notifier in AMQP mode, for a backend with several
// replicas behind a gateway in AMQP mode: events travel through the
// gateway's per-browser queues, so that Notify and Broadcast on any replica
// reach browsers whose connect another replica handled. See "AMQP mode" in
// the package documentation. Nil means HTTP mode.
func WithGateway(g bus.Gateway) Option {
	return optionFunc(func(c *config) { c.gateway = g })
}
