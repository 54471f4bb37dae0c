package tab

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/optcheck"
	"github.com/ssegate/ssegate/internal/routecheck"
	"github.com/ssegate/ssegate/sseconn"
)

// Defaults of the options.
const (
	// Kind is the kind of the identifiers the hub's matcher makes
	// ("tab:<request id>") and registers with its Conn ("tab:<key>").
	Kind = "tab"
	// DefaultPath is the path of the tab stream: /api/sse/stream.
	DefaultPath = "/api/sse/stream"
	// DefaultParam is the query parameter that carries the tab's request
	// id: /api/sse/stream?request_id=<tab>.
	DefaultParam = "request_id"
	// DefaultPendingLimit bounds the events kept for one tab that is not
	// connected.
	DefaultPendingLimit = 256
	// DefaultMaxTabs bounds the tabs the hub keeps, connected or not.
	DefaultMaxTabs = 10_000
	// DefaultTTL is how long a tab that is not connected is kept with its
	// events: the reference gateway's default queue TTL
	// (RABBITMQ_QUEUE_TTL_MS, 300000 ms), so that both modes keep a
	// reconnecting tab's events equally long.
	DefaultTTL = 5 * time.Minute
	// DefaultSendTimeout bounds each send to the gateway, well inside the
	// connect callback's 5 s.
	DefaultSendTimeout = 2 * time.Second
)

// SubjectFunc returns the user a connecting tab belongs to, from its
// request (usually the session cookie or Authorization header the gateway
// forwards in req.Header). "" means no user: the tab is reached by [To]
// with an empty subject and by [Broadcast] only. An error refuses the
// connect: a [*callback.Rejection] (see [callback.Reject]) with its status,
// any other error with 401 Unauthorized.
type SubjectFunc func(req *callback.Request) (subject string, err error)

// Greeter returns the events a tab gets first whenever its stream
// connects, before the events kept for it; for example the current
// version (see version.Greeter). An error is logged and the tab gets the
// kept events only.
type Greeter func(ctx context.Context) ([]sseconn.Event, error)

// An Option configures a [Hub].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	path, param   string
	subject       SubjectFunc
	greeter       Greeter
	pendingLimit  int
	maxTabs       int
	ttl           time.Duration
	sendTimeout   time.Duration
	logger        *slog.Logger
	meterProvider metric.MeterProvider
	now           func() time.Time
	gateway       bus.Gateway
	problems      optcheck.Problems
	matcher       callback.Matcher
}

func defaultConfig() config {
	return config{
		path:         DefaultPath,
		param:        DefaultParam,
		pendingLimit: DefaultPendingLimit,
		maxTabs:      DefaultMaxTabs,
		ttl:          DefaultTTL,
		sendTimeout:  DefaultSendTimeout,
		logger:       slog.New(slog.DiscardHandler),
		now:          time.Now,
	}
}

// sampleRequestID checks the route at start-up.
const sampleRequestID = "0f8fad5b-d9cb-469f-a165-70867728950e"

func (c *config) resolve() {
	c.matcher = callback.Query(Kind, c.path, c.param)
	raw := c.path + "?" + url.QueryEscape(c.param) + "=" + url.QueryEscape(sampleRequestID)
	if err := routecheck.Check(raw, c.matcher, Kind+":"+sampleRequestID); err != nil {
		c.problems.Addf("WithPath", "%v", err)
	}
}

// WithPath sets the route of the tab streams: path, with the request id in
// the query parameter param ([DefaultPath], [DefaultParam] by default:
// /api/sse/stream?request_id=<tab>). An empty path or param keeps the
// default. [New] fails for a path that does not start with '/'.
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

// WithSubject sets the function that tells which user a connecting tab
// belongs to. Without it, every tab has the subject "": [ToSubject] reaches
// no tab, and [To] needs an empty subject.
func WithSubject(f SubjectFunc) Option {
	return optionFunc(func(c *config) {
		if f == nil {
			c.problems.Add(errors.New("WithSubject: nil function"))
			return
		}
		c.subject = f
	})
}

// WithGreeter sets the events a tab gets first on every connect. Nil means
// none.
func WithGreeter(g Greeter) Option { return optionFunc(func(c *config) { c.greeter = g }) }

// WithPendingLimit bounds the events kept for one tab while it is not
// connected (or its sends fail). When one more would exceed it, the oldest
// is dropped, counted in ssegate.tab.dropped and logged. Zero means
// [DefaultPendingLimit]; a negative n makes [New] fail.
func WithPendingLimit(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithPendingLimit", &c.pendingLimit, n) })
}

// WithMaxTabs bounds the tabs the hub keeps. A tab is kept from its first
// connect, or from the first event sent [To] it, until it has been
// disconnected for the TTL. When a new tab would exceed the bound, the tab
// disconnected longest ago is forgotten with its events (counted and
// logged); if every tab is connected, an event [To] a new tab is dropped
// and [Hub.Send] returns an error wrapping [ErrDropped]. Zero means
// [DefaultMaxTabs]; a negative n makes [New] fail.
func WithMaxTabs(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithMaxTabs", &c.maxTabs, n) })
}

// WithTTL sets how long a tab that is not connected is kept with its
// events. Zero means [DefaultTTL]; a negative d makes [New] fail. In AMQP
// mode the gateway's queue TTL bounds it as well.
func WithTTL(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithTTL", &c.ttl, d) })
}

// WithSendTimeout bounds each send to the gateway (and, in AMQP mode, each
// declare and publish). Zero means [DefaultSendTimeout]; a negative d makes
// [New] fail.
func WithSendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithSendTimeout", &c.sendTimeout, d) })
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

// WithMeterProvider sets the meter provider. Nil means the OpenTelemetry
// global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithClock sets the clock of the TTL. Nil means time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithGateway runs the hub in AMQP mode, for a backend with several
// replicas behind a gateway in AMQP mode: every event is published on the
// gateway's exchange with the audience's routing key, and the gateway's
// per-tab queue keeps it while the tab reconnects. See "AMQP mode" in the
// package documentation. Nil means HTTP mode.
func WithGateway(g bus.Gateway) Option { return optionFunc(func(c *config) { c.gateway = g }) }
