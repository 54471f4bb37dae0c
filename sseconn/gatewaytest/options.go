package gatewaytest

import (
	"log/slog"
	"time"
)

// Defaults of the reference gateway (PROTOCOL.md sections 1 to 3).
const (
	// DefaultGeneration is the gateway generation a Server emulates unless
	// [WithGeneration] says otherwise.
	DefaultGeneration = 2
	// DefaultCallbackTimeout is the timeout of each connect and disconnect
	// callback.
	DefaultCallbackTimeout = 5 * time.Second
	// DefaultHeartbeat is the interval of ": heartbeat" comments on every
	// open stream.
	DefaultHeartbeat = 15 * time.Second
	// DefaultMaxBodyBytes is the body limit of POST /internal/send: the
	// reference gateway's 100 KiB.
	DefaultMaxBodyBytes = 100 * 1024
)

// An Option configures a [Server]. Options are made by the With functions of
// this package.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// config is the resolved configuration of a Server.
type config struct {
	generation      int
	callbackTimeout time.Duration
	heartbeat       time.Duration
	maxBodyBytes    int64
	logger          *slog.Logger
	corsOrigin      string
}

func newConfig(opts []Option) config {
	c := config{
		generation:      DefaultGeneration,
		callbackTimeout: DefaultCallbackTimeout,
		heartbeat:       DefaultHeartbeat,
		maxBodyBytes:    DefaultMaxBodyBytes,
		logger:          slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithGeneration selects the gateway generation to emulate: 1 (late 2025:
// named events framed with "event:", rejections as JSON errors) or 2 (2026:
// named events wrapped in a {"type","payload"} envelope, "ready" and
// "rejected" control events). Zero means [DefaultGeneration]. [NewServer]
// panics on any other value.
func WithGeneration(n int) Option {
	return optionFunc(func(c *config) {
		if n == 0 {
			n = DefaultGeneration
		}
		c.generation = n
	})
}

// WithCallbackTimeout sets the timeout of each connect and disconnect
// callback. A connect callback that does not answer in time answers the
// browser 504 GATEWAY_TIMEOUT. Zero or negative means
// [DefaultCallbackTimeout].
func WithCallbackTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			d = DefaultCallbackTimeout
		}
		c.callbackTimeout = d
	})
}

// WithHeartbeat sets the interval of ": heartbeat" comments on every open
// stream. Zero or negative means [DefaultHeartbeat].
func WithHeartbeat(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d <= 0 {
			d = DefaultHeartbeat
		}
		c.heartbeat = d
	})
}

// WithMaxBodyBytes sets the body limit of POST /internal/send. A larger
// body answers 413 with an HTML body. Zero or negative means
// [DefaultMaxBodyBytes] (100 KiB).
func WithMaxBodyBytes(n int) Option {
	return optionFunc(func(c *config) {
		if n <= 0 {
			n = DefaultMaxBodyBytes
		}
		c.maxBodyBytes = int64(n)
	})
}

// WithLogger makes the Server log what it does (connects, callbacks, sends,
// disconnects, injected faults) to l. Header values, and so cookies and
// Authorization headers, are never logged, nor is the callback URL's query
// string. A nil l means no logging, which is the default.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.logger = l
	})
}

// WithCORS makes the Server answer like the reference gateway mounted
// behind Express's cors({origin}) middleware: every response carries
// Access-Control-Allow-Origin: origin (with Vary: Origin unless origin is
// "*"), and an OPTIONS request on any path is a preflight answered 204 with
// the allowed methods and the requested headers. An empty origin disables
// CORS, which is the default.
func WithCORS(origin string) Option {
	return optionFunc(func(c *config) { c.corsOrigin = origin })
}
