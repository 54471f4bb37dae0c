package amqp

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/optcheck"
)

// Defaults of the options.
const (
	// DefaultSendTimeout bounds one publish, from the call to the broker's
	// confirm. A publish made from a connect handler must finish well
	// inside the gateway's 5 s callback timeout.
	DefaultSendTimeout = 2 * time.Second

	// DefaultDialTimeout bounds one connection attempt: TCP, TLS, the AMQP
	// handshake, opening the channel and declaring the exchange.
	DefaultDialTimeout = 10 * time.Second

	// DefaultMinBackoff is the delay before the first reconnection attempt.
	DefaultMinBackoff = 250 * time.Millisecond

	// DefaultMaxBackoff caps the delay between reconnection attempts.
	DefaultMaxBackoff = 30 * time.Second

	// ExchangeName is the gateway's topic exchange, without the
	// environment prefix of [WithEnvPrefix].
	ExchangeName = "sse.events"

	// ReplicaExchangeName is the topic exchange that carries messages
	// between backend replicas ([Bus]), without the environment prefix of
	// [WithEnvPrefix].
	ReplicaExchangeName = "ssegate.replicas"

	// DefaultQueueTTL is the gateway's default RABBITMQ_QUEUE_TTL_MS: the
	// x-expires of its per-connection queues.
	DefaultQueueTTL = 300000 * time.Millisecond
)

// ErrInvalidConfig is wrapped by every error [Dial] returns for a
// misconfiguration: an invalid broker URL or a bad option. Each problem is
// reported, joined with [errors.Join].
var ErrInvalidConfig = errors.New("amqp: invalid configuration")

// Option configures a [Publisher].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	prefix         string
	timeout        time.Duration
	dialTimeout    time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
	mandatory      bool
	queueTTL       time.Duration
	tls            *tls.Config
	onState        func(connected bool)
	logger         *slog.Logger
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	problems       optcheck.Problems
}

func newConfig(opts []Option) config {
	c := config{
		timeout:     DefaultSendTimeout,
		dialTimeout: DefaultDialTimeout,
		minBackoff:  DefaultMinBackoff,
		maxBackoff:  DefaultMaxBackoff,
		queueTTL:    DefaultQueueTTL,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.maxBackoff < c.minBackoff {
		c.problems.Addf("WithBackoff", "max %v below min %v", c.maxBackoff, c.minBackoff)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// replicaExchange returns the name of the exchange of a [Bus].
func (c *config) replicaExchange() string {
	if c.prefix == "" {
		return ReplicaExchangeName
	}
	return c.prefix + "." + ReplicaExchangeName
}

// exchange returns the name of the exchange to publish to.
func (c *config) exchange() string {
	if c.prefix == "" {
		return ExchangeName
	}
	return c.prefix + "." + ExchangeName
}

// WithEnvPrefix publishes to the exchange "<prefix>.sse.events" instead of
// "sse.events". Set it to the gateway's RABBITMQ_ENV_PREFIX. Empty means no
// prefix.
func WithEnvPrefix(prefix string) Option {
	return optionFunc(func(c *config) { c.prefix = prefix })
}

// WithSendTimeout bounds each publish, from the call until the broker's
// confirm. Zero means [DefaultSendTimeout]; a negative d makes [Dial] fail.
// A shorter deadline on the caller's context wins.
func WithSendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithSendTimeout", &c.timeout, d) })
}

// WithDialTimeout bounds each connection attempt, the first one in [Dial]
// (together with its context) and every reconnection. Zero means
// [DefaultDialTimeout]; a negative d makes Dial fail.
func WithDialTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithDialTimeout", &c.dialTimeout, d) })
}

// WithBackoff sets the delays between reconnection attempts: min before
// the first one, doubling up to max, each with random jitter of up to a
// half. Zero values mean [DefaultMinBackoff] and [DefaultMaxBackoff]; a
// negative value, or a max below min once the defaults are filled in,
// makes [Dial] fail.
func WithBackoff(min, max time.Duration) Option {
	return optionFunc(func(c *config) {
		optcheck.Set(&c.problems, "WithBackoff", &c.minBackoff, min)
		optcheck.Set(&c.problems, "WithBackoff", &c.maxBackoff, max)
	})
}

// WithMandatory publishes with the mandatory flag, so that a message that
// no queue is bound for fails with [ErrUnroutable] instead of being
// dropped by the broker in silence.
//
// It is off by default because an unroutable message is normal with the
// gateway: a browser's queue exists only while it is connected (and for the
// queue TTL after), and a subject, role or broadcast key is unroutable while
// no browser of it is connected. Turn it on to learn whether anyone was
// listening, like [sseconn.ErrNotConnected] in HTTP mode.
func WithMandatory(b bool) Option {
	return optionFunc(func(c *config) { c.mandatory = b })
}

// WithTLSConfig sets the TLS configuration of amqps:// connections. Nil
// means the default: a zero tls.Config with the URL's host as server name.
func WithTLSConfig(cfg *tls.Config) Option {
	return optionFunc(func(c *config) { c.tls = cfg })
}

// WithStateHook sets a function that is called each time the connection to
// the broker is lost (connected false) and each time it is re-established
// (connected true), not for the first connection made by [Dial]. It is
// called from the publisher's supervisor goroutine, one call at a time, and
// delays reconnection while it runs: it must return quickly and must not
// call [Publisher.Close]. Nil means no hook.
func WithStateHook(f func(connected bool)) Option {
	return optionFunc(func(c *config) { c.onState = f })
}

// WithLogger sets the logger. Nil means the default, which discards
// everything. The publisher logs
// connection losses and reconnections with the broker URL stripped of its
// password, never message bodies or full routing keys.
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

// WithQueueTTL sets the x-expires of the gateway queues that [Bus.Keep]
// declares. It must equal the gateway's RABBITMQ_QUEUE_TTL_MS exactly: a
// queue declared with other arguments than the gateway's breaks the channel
// of whoever declares it second, and the gateway then drops its channel and
// re-creates every consumer. Zero means [DefaultQueueTTL], the gateway's
// default; a negative d makes [NewBus] fail. Only [Bus] uses it.
func WithQueueTTL(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithQueueTTL", &c.queueTTL, d) })
}
