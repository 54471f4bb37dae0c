package callback

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/optcheck"
)

// DefaultMaxBodyBytes is the default limit of a callback body: 32 KiB. A
// callback body is the browser's URL and request headers as JSON; the
// gateway's Node server refuses a browser request whose request line and
// headers exceed 16 KiB, so a real body stays below about 17 KiB, and even
// headers full of characters that JSON escapes fit. A larger body is
// answered 413 before it is decoded: decoding costs about 40 times the
// body's size in allocations.
const DefaultMaxBodyBytes = 32 << 10

// DefaultBodyTimeout is the default bound of reading one callback body.
// The gateway sends the body at once with the request; it gives up on the
// whole callback after 5 s.
const DefaultBodyTimeout = 2 * time.Second

// DefaultSecretHeader is the default name of the request header that may
// carry the shared secret, as an alternative to the "secret" query parameter.
const DefaultSecretHeader = "X-SSE-Callback-Secret"

// ErrInvalidConfig is wrapped by every error [NewHandler] returns for a
// misconfiguration: a bad option or no authentication. Each problem is
// reported, joined with [errors.Join].
var ErrInvalidConfig = errors.New("callback: invalid configuration")

// An Option configures a [Handler]. Options are created by the With...
// functions of this package.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// route is one matcher and the service its callbacks go to.
type route struct {
	matcher Matcher
	service Service
}

// config is what the options build. NewHandler validates it.
type config struct {
	routes        []route
	secrets       []string
	secretHeader  string
	insecure      bool
	authenticator Authenticator
	maxBodyBytes  int
	bodyTimeout   time.Duration
	logger        *slog.Logger
	meterProvider metric.MeterProvider
	tracerProv    trace.TracerProvider
	problems      optcheck.Problems
}

// WithRoute adds a route: callbacks whose browser URL m matches go to s.
// Routes are tried in the order they were added, and the first match wins.
// A nil m or s makes [NewHandler] fail. A matcher with an invalid pattern
// (see [Path], [Query], [Prefix]) makes NewHandler fail too.
func WithRoute(m Matcher, s Service) Option {
	return optionFunc(func(c *config) {
		switch {
		case m == nil:
			c.problems.Addf("WithRoute", "nil matcher")
		case s == nil:
			c.problems.Addf("WithRoute", "nil service")
		default:
			c.routes = append(c.routes, route{matcher: m, service: s})
		}
	})
}

// WithSecret makes the handler require the shared secret, taken from the
// "secret" query parameter of the callback request (how the gateway's
// CALLBACK_URL carries it, e.g. http://backend/api/sse/callback?secret=s3cr3t)
// or from the secret header (see [WithSecretHeader]). A callback without the
// right secret is answered 401.
//
// WithSecret may be given more than once: any of the secrets is accepted,
// which allows rotating a secret without downtime. An empty secret makes
// [NewHandler] fail, so that an unset environment variable never turns
// authentication off. The secret is compared in constant time and never
// logged.
func WithSecret(secret string) Option {
	return optionFunc(func(c *config) {
		if secret == "" {
			c.problems.Addf("WithSecret", "empty secret (use WithInsecureNoAuth to run without authentication)")
			return
		}
		c.secrets = append(c.secrets, secret)
	})
}

// WithSecretHeader sets the name of the request header that may carry the
// shared secret instead of the "secret" query parameter. The default is
// [DefaultSecretHeader]; an empty name means the default. It has no effect
// without [WithSecret].
func WithSecretHeader(name string) Option {
	return optionFunc(func(c *config) {
		if name == "" {
			name = DefaultSecretHeader
		}
		if !validHeaderName(name) {
			c.problems.Addf("WithSecretHeader", "invalid header name %q", name)
			return
		}
		c.secretHeader = http.CanonicalHeaderKey(name)
	})
}

// WithInsecureNoAuth allows a handler with neither a secret nor an
// [Authenticator]: every callback is then accepted without authentication.
// Without it, [NewHandler] refuses such a configuration. Use it only where
// the callback endpoint is unreachable from anything but the gateway, or in
// tests. A secret or authenticator given as well is still enforced.
func WithInsecureNoAuth() Option {
	return optionFunc(func(c *config) { c.insecure = true })
}

// WithAuthenticator adds a custom [Authenticator], run on every callback
// request before its body is read. With [WithSecret] as well, both must
// accept. A nil a makes [NewHandler] fail.
func WithAuthenticator(a Authenticator) Option {
	return optionFunc(func(c *config) {
		if a == nil {
			c.problems.Addf("WithAuthenticator", "nil authenticator")
			return
		}
		c.authenticator = a
	})
}

// WithMaxBodyBytes sets the largest callback body the handler reads; a
// larger one is answered 413. Zero means [DefaultMaxBodyBytes]; a negative
// n makes [NewHandler] fail.
func WithMaxBodyBytes(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithMaxBodyBytes", &c.maxBodyBytes, n) })
}

// WithBodyTimeout bounds the time to read one callback body, from the end
// of its headers, through the connection's read deadline
// (http.ResponseController): a body still arriving then is answered 400
// and its connection closed. Zero means [DefaultBodyTimeout]; a negative d
// makes [NewHandler] fail. Bound the headers with the server's
// ReadHeaderTimeout (see the package documentation's example).
func WithBodyTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithBodyTimeout", &c.bodyTimeout, d) })
}

// WithLogger sets the logger. A nil logger means the default, which
// discards everything. The handler never logs the secret, the callback
// request's URL query or the browser's header values.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithMeterProvider sets the meter provider. A nil provider means the
// OpenTelemetry global one.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the tracer provider. A nil provider means the
// OpenTelemetry global one.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProv = tp })
}

// newConfig applies opts over the defaults and validates the result.
func newConfig(opts []Option) (*config, error) {
	c := &config{
		secretHeader: DefaultSecretHeader,
		maxBodyBytes: DefaultMaxBodyBytes,
		bodyTimeout:  DefaultBodyTimeout,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		o.apply(c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	for i, r := range c.routes {
		if v, ok := r.matcher.(validator); ok {
			if err := v.validate(); err != nil {
				c.problems.Addf("WithRoute", "route %d: %w", i, err)
			}
		}
	}
	if len(c.secrets) == 0 && c.authenticator == nil && !c.insecure {
		c.problems.Add(errors.New("no authentication configured: use WithSecret or WithAuthenticator, or WithInsecureNoAuth to accept unauthenticated callbacks"))
	}
	if err := c.problems.Err(ErrInvalidConfig); err != nil {
		return nil, err
	}
	return c, nil
}

// validHeaderName reports whether name is a valid HTTP header field name
// (an RFC 9110 token).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}
