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
)

// Defaults of [HTTPSource].
const (
	DefaultFetchTimeout = time.Second      // see WithFetchTimeout
	DefaultMaxBytes     = 64 << 10         // see WithMaxBytes
	DefaultCacheTTL     = 10 * time.Second // see WithCacheTTL
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
	maxBytes int64
	ttl      time.Duration
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

// HTTPOption configures an [HTTPSource].
type HTTPOption interface {
	applyHTTP(*HTTPSource)
}

type httpOptionFunc func(*HTTPSource)

func (f httpOptionFunc) applyHTTP(s *HTTPSource) { f(s) }

// WithDoer sets the HTTP client used to fetch version.json. nil means the
// default: an *http.Client with a private transport that closes each
// connection after its fetch, so that nothing outlives a fetch (an
// HTTPSource has no Close) and no global transport is used.
func WithDoer(d Doer) HTTPOption {
	return httpOptionFunc(func(s *HTTPSource) {
		if d != nil {
			s.doer = d
		}
	})
}

// WithFetchTimeout bounds each fetch, connection and body included. Zero or
// negative means [DefaultFetchTimeout] (1 s), which leaves room inside the
// gateway's 5 s connect-callback timeout.
func WithFetchTimeout(d time.Duration) HTTPOption {
	return httpOptionFunc(func(s *HTTPSource) {
		if d > 0 {
			s.timeout = d
		}
	})
}

// WithMaxBytes caps the size of version.json. Zero or negative means
// [DefaultMaxBytes] (64 KiB). A larger body fails with
// [ErrBodyTooLarge].
func WithMaxBytes(n int64) HTTPOption {
	return httpOptionFunc(func(s *HTTPSource) {
		if n > 0 {
			s.maxBytes = n
		}
	})
}

// WithCacheTTL sets how long a successfully fetched version is reused.
// Zero means [DefaultCacheTTL] (10 s); a negative value disables caching
// (concurrent callers still share a fetch in flight).
func WithCacheTTL(d time.Duration) HTTPOption {
	return httpOptionFunc(func(s *HTTPSource) {
		if d != 0 {
			s.ttl = d
		}
	})
}

// WithCacheClock sets the clock used for the cache TTL. nil means
// time.Now.
func WithCacheClock(now func() time.Time) HTTPOption {
	return httpOptionFunc(func(s *HTTPSource) {
		if now != nil {
			s.now = now
		}
	})
}

// NewHTTPSource returns a source that reads version.json from rawURL, which
// must be an absolute http or https URL.
func NewHTTPSource(rawURL string, opts ...HTTPOption) (*HTTPSource, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("version: invalid version.json URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("version: version.json URL must be an absolute http or https URL")
	}
	s := &HTTPSource{
		url:      u.String(),
		doer:     newDefaultClient(),
		timeout:  DefaultFetchTimeout,
		maxBytes: DefaultMaxBytes,
		ttl:      DefaultCacheTTL,
		now:      time.Now,
	}
	for _, o := range opts {
		if o != nil {
			o.applyHTTP(s)
		}
	}
	return s, nil
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
	if resp.ContentLength > s.maxBytes {
		return Info{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, resp.ContentLength, s.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxBytes+1))
	if err != nil {
		return Info{}, fmt.Errorf("version: read version.json: %w", err)
	}
	if int64(len(body)) > s.maxBytes {
		return Info{}, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, s.maxBytes)
	}
	info, err := ParseInfo(body)
	if err != nil {
		return Info{}, err
	}
	return info, nil
}
