package version

import (
	"errors"
	"log/slog"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/optcheck"
	"github.com/ssegate/ssegate/internal/routecheck"
)

// Defaults of [Notifier].
const (
	DefaultPath                 = "/api/sse/utils/version" // see WithPath
	DefaultParam                = "request_id"             // see WithPath
	DefaultPendingLimit         = 16                       // see WithPendingLimit
	DefaultPendingTTL           = 10 * time.Minute         // see WithPendingTTL
	DefaultMaxPendingRequests   = 10000                    // see WithMaxPendingRequests
	DefaultSendTimeout          = 2 * time.Second          // see WithSendTimeout
	DefaultConnectSourceTimeout = 1 * time.Second          // see WithConnectSourceTimeout
)

// Kind is the kind of every identifier this package uses:
// "version:<request_id>".
const Kind = "version"

// ErrInvalidConfig is wrapped by every error [New] and [NewHTTPSource]
// return for a misconfiguration: a nil argument or a bad option. Each
// problem is reported, joined with [errors.Join].
var ErrInvalidConfig = errors.New("version: invalid configuration")

// config is the notifier's configuration after options.
type config struct {
	path, param        string
	streamURL          func(requestID string) string // with matcher, set by WithStreamURL
	matcher            callback.Matcher
	pendingLimit       int
	pendingTTL         time.Duration
	maxPendingRequests int
	sendTimeout        time.Duration
	sourceTimeout      time.Duration
	logger             *slog.Logger
	now                func() time.Time
	meterProvider      metric.MeterProvider
	tracerProvider     trace.TracerProvider
	problems           optcheck.Problems
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
		sourceTimeout:      DefaultConnectSourceTimeout,
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
// and logged). Zero means [DefaultPendingLimit] (16); a negative n makes
// [New] fail.
func WithPendingLimit(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithPendingLimit", &c.pendingLimit, n) })
}

// WithPendingTTL sets how long a pending event is kept before it expires
// and is removed. Zero means [DefaultPendingTTL] (10 min); a negative d
// makes [New] fail.
func WithPendingTTL(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithPendingTTL", &c.pendingTTL, d) })
}

// WithMaxPendingRequests bounds the number of request ids that have
// pending events. When one more would exceed it, the pending events of the
// request id notified least recently are dropped (counted and logged).
// Zero means [DefaultMaxPendingRequests] (10000); a negative n makes [New]
// fail.
func WithMaxPendingRequests(n int) Option {
	return optionFunc(func(c *config) {
		optcheck.Set(&c.problems, "WithMaxPendingRequests", &c.maxPendingRequests, n)
	})
}

// WithPath sets the route of [Notifier.Matcher]: streams opened on path
// with the request id in the query parameter param, so that the matcher is
// callback.Query("version", path, param). An empty path or param means the
// default ([DefaultPath], [DefaultParam]). [New] fails if the route does not
// hold, for example for a path that does not start with '/'.
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

// WithStreamURL replaces the route of [Notifier.Matcher] entirely: m
// recognizes the version streams, and streamURL(requestID) is the URL a
// browser opens for requestID (the one the page builds). They travel
// together, as in the task package, because m must map streamURL(id) back
// to the identifier "version:<id>": [New] checks this with a sample id and
// fails when it does not hold, so that a wrong matcher is found at start-up
// instead of answering every connect 500. Both nil mean the default (see
// [WithPath]); one nil makes New fail.
func WithStreamURL(streamURL func(requestID string) string, m callback.Matcher) Option {
	return optionFunc(func(c *config) {
		switch {
		case streamURL == nil && m == nil:
			c.streamURL, c.matcher = nil, nil
		case streamURL == nil || m == nil:
			c.problems.Addf("WithStreamURL", "needs both a stream URL function and a matcher")
		default:
			c.streamURL, c.matcher = streamURL, m
		}
	})
}

// WithSendTimeout bounds each send, and everything [Notifier.Connect] does
// after registering the stream: waiting for a flush in progress together
// with the flush of pending events, and, apart, the send of the current
// version (asking the [Source] has a budget of its own, see
// [WithConnectSourceTimeout]). Zero means [DefaultSendTimeout] (2 s): everything
// done on connect must finish well inside the gateway's 5 s callback
// timeout. A negative d makes [New] fail.
func WithSendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithSendTimeout", &c.sendTimeout, d) })
}

// WithConnectSourceTimeout bounds asking the [Source] for the current
// version in [Notifier.Connect]. It is a budget of its own: the send that
// follows, of the version or of {"version":"unknown","error":"timeout"},
// still has the whole send timeout. A connect that asks the Source thus
// takes at most this timeout plus the send timeout (3 s by default). Zero
// means [DefaultConnectSourceTimeout] (1 s); a negative d makes [New] fail.
func WithConnectSourceTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithConnectSourceTimeout", &c.sourceTimeout, d) })
}

// WithLogger sets the logger. Nil means the default, which discards
// everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithClock sets the clock used for pending-event expiry. Nil means
// time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithMeterProvider sets the meter provider. Nil means the OpenTelemetry
// global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the tracer provider. Nil means the OpenTelemetry
// global one. Notify, Broadcast and Connect each make a span, the parent of
// the spans of the sends they make.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// sampleRequestID is the request id used to check a route.
const sampleRequestID = "0123456789abcdef"

// resolve fills the route and validates c, returning every problem.
func (c *config) resolve() {
	if c.matcher == nil {
		path, param := c.path, c.param
		c.streamURL = func(rid string) string { return path + "?" + param + "=" + url.QueryEscape(rid) }
		c.matcher = callback.Query(Kind, path, param)
	}
	if err := c.checkRoute(); err != nil {
		c.problems.Add(err)
	}
}

// checkRoute reports whether the matcher maps the stream URL of a sample
// id back to its identifier.
func (c *config) checkRoute() error {
	return routecheck.Check(c.streamURL(sampleRequestID), c.matcher, Identifier(sampleRequestID))
}

// WithGateway runs the Notifier in AMQP mode, for a backend with several
// replicas behind a gateway in AMQP mode: events travel through the
// gateway's per-browser queues, so that Notify and Broadcast on any replica
// reach browsers whose connect another replica handled. See "AMQP mode" in
// the package documentation. Nil means HTTP mode.
func WithGateway(g bus.Gateway) Option {
	return optionFunc(func(c *config) { c.gateway = g })
}
