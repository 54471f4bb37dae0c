package sseconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/go-retryablehttp"

	"github.com/ssegate/ssegate/internal/optcheck"
	"github.com/ssegate/ssegate/internal/wire"
)

// Doer sends one HTTP request. *http.Client satisfies it, and so does the
// client returned by [NewDoer].
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

var _ Doer = (*http.Client)(nil)

// RetryPolicy bounds the retries of the default doer. It retries only what
// never reached the gateway: a failed dial (connection refused, no route,
// DNS failure) and a 503 answer that is not the gateway's own JSON error
// body, that is, a proxy in front of it saying it had no upstream to send
// the request to. Nothing else is retried: not 400, 404, 413, not 500
// WRITE_FAILED, not a timeout, and not a proxy's 502, which a proxy also
// answers when the gateway dropped the connection after reading the
// request. The gateway does not deduplicate, so a retry of any of these
// could show an event twice.
//
// The 503 rule trusts the proxy: nginx and HAProxy answer 503 only when no
// upstream is available. A proxy that answers 503 for an upstream reset
// too (Envoy's "upstream connect error or disconnect/reset before headers")
// can turn a retry into a duplicate; behind such a proxy, set MaxAttempts
// to 1.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first included.
	// 1 disables retries; zero means DefaultRetryPolicy.MaxAttempts.
	MaxAttempts int
	// MinBackoff is the wait before the first retry; each further retry
	// waits twice as long, up to MaxBackoff. Zero means
	// DefaultRetryPolicy.MinBackoff.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between attempts. Zero means
	// DefaultRetryPolicy.MaxBackoff; it must not be below MinBackoff.
	MaxBackoff time.Duration
}

// withDefaults returns p with each zero field taken from
// [DefaultRetryPolicy].
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts == 0 {
		p.MaxAttempts = DefaultRetryPolicy.MaxAttempts
	}
	if p.MinBackoff == 0 {
		p.MinBackoff = DefaultRetryPolicy.MinBackoff
	}
	if p.MaxBackoff == 0 {
		p.MaxBackoff = max(DefaultRetryPolicy.MaxBackoff, p.MinBackoff)
	}
	return p
}

// problems returns the problems of a policy that went through
// withDefaults.
func (p RetryPolicy) problems() []error {
	var errs []error
	if p.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("negative MaxAttempts %d", p.MaxAttempts))
	}
	if p.MinBackoff < 0 {
		errs = append(errs, fmt.Errorf("negative MinBackoff %v", p.MinBackoff))
	}
	if p.MaxBackoff < 0 {
		errs = append(errs, fmt.Errorf("negative MaxBackoff %v", p.MaxBackoff))
	} else if p.MaxBackoff < p.MinBackoff {
		errs = append(errs, fmt.Errorf("MaxBackoff %v below MinBackoff %v", p.MaxBackoff, p.MinBackoff))
	}
	return errs
}

// DefaultRetryPolicy is the policy of the default doer: 3 attempts, waiting
// 50 ms then 100 ms. The whole send, retries included, is still bounded by
// the send timeout ([WithSendTimeout]).
var DefaultRetryPolicy = RetryPolicy{MaxAttempts: 3, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}

// DefaultIdleTimeout is how long the default doer keeps an idle keep-alive
// connection to the gateway before closing it. The reference gateway's
// Node.js server closes a connection that has been idle for 5 s (its
// keep-alive timeout, see docs/protocol.md section 3); a request written onto
// a connection at the moment the gateway closes it fails with EOF or
// ECONNRESET, and nobody can tell whether the gateway received it, so it can
// never be retried. Closing idle connections well before the gateway does
// (the doer's idle timer starts when the answer has been read, after the
// gateway's has started) means a send is never written onto a connection the
// gateway may be closing. Go's default of 90 s would let that happen to any
// send made after a pause of more than 5 s.
const DefaultIdleTimeout = 3 * time.Second

// NewDoer returns the default doer: an *http.Client backed by
// go-retryablehttp over a pooled keep-alive transport that closes idle
// connections after DefaultIdleTimeout, retrying as p says.
// A nil logger means silent. It is exported so that callers wrapping the
// transport (with otelhttp, say) can keep the retry semantics.
//
// It fails with an error wrapping [ErrInvalidConfig] for a policy with a
// negative field or a MaxBackoff below MinBackoff.
func NewDoer(p RetryPolicy, logger *slog.Logger) (*http.Client, error) {
	p = p.withDefaults()
	var problems optcheck.Problems
	for _, err := range p.problems() {
		problems.Addf("RetryPolicy", "%w", err)
	}
	if err := problems.Err(ErrInvalidConfig); err != nil {
		return nil, err
	}
	return newDoer(p, logger, nil), nil
}

// newDoer is NewDoer with a replaceable dial function, for tests.
func newDoer(p RetryPolicy, logger *slog.Logger, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	rc := newRetryClient(p, logger, dial)
	return &http.Client{Transport: &retryTransport{RoundTripper: &retryablehttp.RoundTripper{Client: rc}, pool: rc.HTTPClient}}
}

// newRetryClient returns the go-retryablehttp client of the default doer.
// A Manager without [WithDoer] calls it directly, without the extra
// http.Client layer of NewDoer.
func newRetryClient(p RetryPolicy, logger *slog.Logger, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *retryablehttp.Client {
	tr := cleanhttp.DefaultPooledTransport()
	tr.MaxIdleConnsPerHost = 64
	tr.IdleConnTimeout = DefaultIdleTimeout
	if dial != nil {
		tr.DialContext = dial
	}
	rc := retryablehttp.NewClient()
	rc.HTTPClient = &http.Client{Transport: tr}
	rc.RetryMax = p.MaxAttempts - 1
	rc.RetryWaitMin = p.MinBackoff
	rc.RetryWaitMax = p.MaxBackoff
	rc.CheckRetry = checkRetry
	rc.Backoff = backoff
	rc.ErrorHandler = lastAttempt
	rc.Logger = nil // retryablehttp's default logs to stderr
	if logger != nil {
		rc.Logger = logger
	}
	return rc
}

// retryTransport is the round tripper of the default doer: retryablehttp's,
// plus the CloseIdleConnections of the pooled transport under it, which
// retryablehttp.RoundTripper lacks. Without it, http.Client.CloseIdleConnections
// (and so [Manager.Shutdown]) would leave the idle keep-alive connections,
// and their goroutines, open.
type retryTransport struct {
	*retryablehttp.RoundTripper
	pool *http.Client
}

// CloseIdleConnections closes the pooled transport's idle connections.
func (t *retryTransport) CloseIdleConnections() { t.pool.CloseIdleConnections() }

// lastAttempt is the retryablehttp.ErrorHandler of the default doer: it
// hands back the last attempt's answer (a proxy's 503 after the last retry,
// say) or its error, never both, which net/http would complain about on
// stderr.
func lastAttempt(resp *http.Response, err error, _ int) (*http.Response, error) {
	if err != nil {
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, peekLimit))
			resp.Body.Close()
		}
		return nil, err
	}
	return resp, nil
}

// backoff doubles from min up to max. Unlike retryablehttp's default it
// ignores Retry-After, which could exceed the send timeout many times over.
func backoff(min, max time.Duration, attempt int, _ *http.Response) time.Duration {
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// checkRetry is the retryablehttp.CheckRetry of the default doer.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return neverReached(err), nil
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return !isGatewayAnswer(resp), nil
	}
	return false, nil
}

// neverReached reports whether err proves that no byte of the request was
// written: the dial itself failed.
func neverReached(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// peekLimit is how much of a 503 body is read to tell the gateway's JSON
// from a proxy's page.
const peekLimit = 4 << 10

// isGatewayAnswer reports whether resp carries the gateway's JSON error
// body. It reads at most peekLimit bytes and puts them back in resp.Body.
func isGatewayAnswer(resp *http.Response) bool {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" {
		return false
	}
	buf, _ := io.ReadAll(io.LimitReader(resp.Body, peekLimit))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), resp.Body), resp.Body}
	var eb wire.ErrorBody
	return json.Unmarshal(buf, &eb) == nil && eb.Error.Code != ""
}
