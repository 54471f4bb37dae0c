package version

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ssegate/ssegate/internal/optcheck"
)

// Defaults of [HTTPSource].
const (
	DefaultSourceTimeout      = time.Second      // see WithSourceTimeout
	DefaultSourceMaxBodyBytes = 64 << 10         // see WithSourceMaxBodyBytes
	DefaultSourceCacheTTL     = 10 * time.Second // see WithSourceCacheTTL
)

// Doer sends an HTTP request. *http.Client satisfies it.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// HTTPSource is a [Source] that reads a version.json document (see
// [ParseInfo]) from a URL.
//
// Each fetch is bounded by a timeout and the body by a size cap. A
// successful answer is cached for a short TTL. Concurrent callers that find
// no fresh cached value share one fetch: only one request is in flight at a
// time. Failures are not cached, so the next caller fetches again.
//
// An HTTPSource is safe for concurrent use. It starts no goroutines.
type HTTPSource struct {
	url      string
	doer     Doer
	timeout  time.Duration
	maxBytes int
	ttl      time.Duration // zero disables the cache
	now      func() time.Time

	// joinHook, when set by tests, is called when a caller joins a fetch
	// in flight.
	joinHook func()

	mu      sync.Mutex // guards info, expires, cached and flight
	info    Info
	expires time.Time
	cached  bool
	flight  *fetchCall
}

// fetchCall is one fetch shared by concurrent callers. Its fields are
// written before done is closed and only read after.
type fetchCall struct {
	done     chan struct{}
	info     Info
	err      error
	canceled bool // the fetching caller's own context ended
}

// SourceOption configures an [HTTPSource]. Its functions are named
// WithSource… so that they cannot be mistaken for the options of a
// [Notifier] ([Option]): both kinds are passed in the same few lines of a
// program's set-up, and a Notifier has a timeout of its own.
type SourceOption interface {
	applySource(*sourceConfig)
}

type sourceOptionFunc func(*sourceConfig)

func (f sourceOptionFunc) applySource(c *sourceConfig) { f(c) }

// sourceConfig is what the SourceOptions build.
type sourceConfig struct {
	doer     Doer
	timeout  time.Duration
	maxBytes int
	ttl      time.Duration
	noCache  bool
	now      func() time.Time
	problems optcheck.Problems
}

// WithSourceDoer sets the HTTP client used to fetch version.json. Nil means
// the default: an *http.Client with a private transport that closes each
// connection after its fetch, so that nothing outlives a fetch (an
// HTTPSource has no Close) and no global transport is used.
func WithSourceDoer(d Doer) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if d != nil {
			c.doer = d
		}
	})
}

// WithSourceTimeout bounds each fetch, connection and body included. Zero
// means [DefaultSourceTimeout] (1 s), which leaves room inside the
// gateway's 5 s connect-callback timeout; a negative d makes
// [NewHTTPSource] fail.
func WithSourceTimeout(d time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { optcheck.Set(&c.problems, "WithSourceTimeout", &c.timeout, d) })
}

// WithSourceMaxBodyBytes caps the size of version.json; a larger body fails
// with [ErrBodyTooLarge]. Zero means [DefaultSourceMaxBodyBytes] (64 KiB);
// a negative n makes [NewHTTPSource] fail.
func WithSourceMaxBodyBytes(n int) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		optcheck.Set(&c.problems, "WithSourceMaxBodyBytes", &c.maxBytes, n)
	})
}

// WithSourceCacheTTL sets how long a successfully fetched version is
// reused. Zero means [DefaultSourceCacheTTL] (10 s); a negative d makes
// [NewHTTPSource] fail. See [WithoutSourceCache] to fetch every time.
func WithSourceCacheTTL(d time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { optcheck.Set(&c.problems, "WithSourceCacheTTL", &c.ttl, d) })
}

// WithoutSourceCache disables the cache: every call of
// [HTTPSource.Current] that finds no fetch in flight fetches (concurrent
// callers still share a fetch in flight). It wins over
// [WithSourceCacheTTL].
func WithoutSourceCache() SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.noCache = true })
}

// WithSourceClock sets the clock used for the cache TTL. Nil means
// time.Now.
func WithSourceClock(now func() time.Time) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) {
		if now != nil {
			c.now = now
		}
	})
}

// NewHTTPSource returns a source that reads version.json from rawURL, which
// must be an absolute http or https URL.
//
// It fails with an error wrapping [ErrInvalidConfig] for another URL or an
// invalid option; every problem is reported, joined with [errors.Join].
func NewHTTPSource(rawURL string, opts ...SourceOption) (*HTTPSource, error) {
	c := sourceConfig{
		timeout:  DefaultSourceTimeout,
		maxBytes: DefaultSourceMaxBodyBytes,
		ttl:      DefaultSourceCacheTTL,
		now:      time.Now,
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		c.problems.Add(fmt.Errorf("version.json URL: %w", err))
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		c.problems.Add(errors.New("version.json URL must be an absolute http or https URL"))
	}
	for _, o := range opts {
		if o != nil {
			o.applySource(&c)
		}
	}
	if err := c.problems.Err(ErrInvalidConfig); err != nil {
		return nil, err
	}
	if c.doer == nil {
		c.doer = newDefaultClient()
	}
	if c.noCache {
		c.ttl = 0
	}
	return &HTTPSource{
		url:      u.String(),
		doer:     c.doer,
		timeout:  c.timeout,
		maxBytes: c.maxBytes,
		ttl:      c.ttl,
		now:      c.now,
	}, nil
}

// newDefaultClient returns the default doer of an HTTPSource: a private
// transport, not http.DefaultTransport, without keep-alive. Fetches are
// rare (at most one per cache TTL), and an idle connection would keep two
// goroutines alive that nothing could stop.
func newDefaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:             http.ProxyFromEnvironment,
		ForceAttemptHTTP2: true,
		DisableKeepAlives: true,
	}}
}

// Current returns the cached version if it is fresh, and otherwise fetches
// version.json, joining a fetch already in flight if there is one.
//
// Errors: a wrapped context or transport error (errors.Is
// context.DeadlineExceeded on timeout), [*StatusError] for an answer other
// than 200, [ErrBodyTooLarge], or an error wrapping [ErrInvalidInfo] for a
// body that is not a valid version.json.
func (s *HTTPSource) Current(ctx context.Context) (Info, error) {
	for {
		s.mu.Lock()
		if s.cached && s.now().Before(s.expires) {
			info := s.info
			s.mu.Unlock()
			return info, nil
		}
		if c := s.flight; c != nil {
			s.mu.Unlock()
			if s.joinHook != nil {
				s.joinHook()
			}
			select {
			case <-c.done:
			case <-ctx.Done():
				return Info{}, fmt.Errorf("version: waiting for version.json: %w", ctx.Err())
			}
			if c.canceled && ctx.Err() == nil {
				// The caller that fetched gave up; our context is
				// still good, so fetch again.
				continue
			}
			return c.info, c.err
		}
		c := &fetchCall{done: make(chan struct{})}
		s.flight = c
		s.mu.Unlock()
		s.lead(ctx, c)
		return c.info, c.err
	}
}

// lead performs the fetch of c and hands its result to the callers that
// joined it, even if the Doer panics.
func (s *HTTPSource) lead(ctx context.Context, c *fetchCall) {
	c.err = errors.New("version: fetch version.json: aborted")
	defer func() {
		s.mu.Lock()
		s.flight = nil
		if c.err == nil && s.ttl > 0 {
			s.info, s.cached, s.expires = c.info, true, s.now().Add(s.ttl)
		}
		s.mu.Unlock()
		close(c.done)
	}()
	c.info, c.err = s.fetch(ctx)
	c.canceled = c.err != nil && ctx.Err() != nil
}

// fetch performs one GET of the version.json URL.
func (s *HTTPSource) fetch(ctx context.Context) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return Info{}, fmt.Errorf("version: build version.json request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.doer.Do(req)
	if err != nil {
		return Info{}, fmt.Errorf("version: fetch version.json: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Info{}, &StatusError{StatusCode: resp.StatusCode}
	}
	if resp.ContentLength > int64(s.maxBytes) {
		return Info{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, resp.ContentLength, s.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.maxBytes)+1))
	if err != nil {
		return Info{}, fmt.Errorf("version: read version.json: %w", err)
	}
	if len(body) > s.maxBytes {
		return Info{}, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, s.maxBytes)
	}
	info, err := ParseInfo(body)
	if err != nil {
		return Info{}, err
	}
	return info, nil
}
