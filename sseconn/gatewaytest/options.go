package gatewaytest

import (
	"errors"
	"log/slog"
	"time"

	"github.com/ssegate/ssegate/internal/optcheck"
)

// Defaults of the reference gateway (docs/protocol.md).
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

// ErrInvalidConfig is wrapped by the error [NewServer] panics with for an
// option that can never be right. Each problem is reported, joined with
// [errors.Join].
var ErrInvalidConfig = errors.New("gatewaytest: invalid configuration")

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
	maxBodyBytes    int
	logger          *slog.Logger
	corsOrigin      string
	problems        optcheck.Problems
	broker          Broker
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
// "rejected" control events). Zero means [DefaultGeneration]; any other
// value makes [NewServer] panic.
func WithGeneration(n int) Option {
	return optionFunc(func(c *config) {
		switch n {
		case 0:
		case 1, 2:
			c.generation = n
		default:
			c.problems.Addf("WithGeneration", "generation %d, want 1 or 2", n)
		}
	})
}

// WithCallbackTimeout sets the timeout of each connect and disconnect
// callback. A connect callback that does not answer in time answers the
// browser 504 GATEWAY_TIMEOUT. Zero means [DefaultCallbackTimeout]; a
// negative d makes [NewServer] panic.
func WithCallbackTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithCallbackTimeout", &c.callbackTimeout, d) })
}

// WithHeartbeat sets the interval of ": heartbeat" comments on every open
// stream. Zero means [DefaultHeartbeat]; a negative d makes [NewServer]
// panic.
func WithHeartbeat(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithHeartbeat", &c.heartbeat, d) })
}

// WithMaxBodyBytes sets the body limit of POST /internal/send. A larger
// body answers 413 with an HTML body. Zero means [DefaultMaxBodyBytes]
// (100 KiB); a negative n makes [NewServer] panic.
func WithMaxBodyBytes(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithMaxBodyBytes", &c.maxBodyBytes, n) })
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
