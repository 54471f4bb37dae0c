package version_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/version"
)

// versionServer serves answer at /version.json and counts requests.
type versionServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newVersionServer(t *testing.T, answer http.HandlerFunc) *versionServer {
	t.Helper()
	vs := &versionServer{}
	vs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vs.hits.Add(1)
		answer(w, r)
	}))
	t.Cleanup(vs.Close)
	return vs
}

func (vs *versionServer) url() string { return vs.URL + "/version.json" }

func newSource(t *testing.T, rawURL string, opts ...version.HTTPOption) *version.HTTPSource {
	t.Helper()
	s, err := version.NewHTTPSource(rawURL, opts...)
	if err != nil {
		t.Fatalf("NewHTTPSource: %v", err)
	}
	return s
}

func TestHTTPSource(t *testing.T) {
	const maxBytes = 64
	big := `{"version":"1","changelog":"` + strings.Repeat("x", maxBytes) + `"}`
	exact := `{"version":"1","changelog":"` + strings.Repeat("y", maxBytes-30) + `"}`
	tests := []struct {
		name    string
		answer  http.HandlerFunc
		want    version.Info
		wantErr func(error) bool
	}{
		{
			name: "ok",
			answer: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Accept") != "application/json" || r.Method != http.MethodGet {
					http.Error(w, "bad request", http.StatusBadRequest)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"version":"3.1.4","changelog":"pi","commit":"abc"}`)
			},
			want: version.Info{Version: "3.1.4", Changelog: "pi"},
		},
		{
			name:   "exactly the cap",
			answer: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, exact) },
			want:   version.Info{Version: "1", Changelog: strings.Repeat("y", maxBytes-30)},
		},
		{
			name:   "not found",
			answer: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
			wantErr: func(err error) bool {
				var se *version.StatusError
				return errors.As(err, &se) && se.StatusCode == http.StatusNotFound
			},
		},
		{
			name:    "bad json",
			answer:  func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"version":`) },
			wantErr: func(err error) bool { return errors.Is(err, version.ErrInvalidInfo) },
		},
		{
			name:    "missing version",
			answer:  func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"changelog":"x"}`) },
			wantErr: func(err error) bool { return errors.Is(err, version.ErrInvalidInfo) },
		},
		{
			name:    "too large with content length",
			answer:  func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, big) },
			wantErr: func(err error) bool { return errors.Is(err, version.ErrBodyTooLarge) },
		},
		{
			name: "too large chunked",
			answer: func(w http.ResponseWriter, _ *http.Request) {
				for range 10 {
					fmt.Fprint(w, strings.Repeat(" ", 20))
					w.(http.Flusher).Flush()
				}
				fmt.Fprint(w, `{"version":"1"}`)
			},
			wantErr: func(err error) bool { return errors.Is(err, version.ErrBodyTooLarge) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := newVersionServer(t, tt.answer)
			s := newSource(t, vs.url(), version.WithMaxBytes(maxBytes))
			got, err := s.Current(context.Background())
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("Current() = %+v, %v; want a matching error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Current: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Current (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPSourceTimeout(t *testing.T) {
	release := make(chan struct{})
	vs := newVersionServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before vs.Close
	s := newSource(t, vs.url(), version.WithFetchTimeout(50*time.Millisecond))
	start := time.Now()
	_, err := s.Current(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Current error = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Current took %v despite a 50ms timeout", d)
	}
}

func TestHTTPSourceCache(t *testing.T) {
	var fail atomic.Bool
	vs := newVersionServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if fail.Load() {
			http.Error(w, "oops", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, `{"version":"1"}`)
	})
	clk := newClock()
	s := newSource(t, vs.url(), version.WithCacheTTL(10*time.Second), version.WithCacheClock(clk.Now))
	ctx := context.Background()

	steps := []struct {
		name      string
		advance   time.Duration
		fail      bool
		wantErr   bool
		wantFetch int32
	}{
		{"first call fetches", 0, false, false, 1},
		{"cached", 0, false, false, 1},
		{"still cached", 9 * time.Second, false, false, 1},
		{"expired", 2 * time.Second, false, false, 2},
		{"cached again", 0, false, false, 2},
		{"failure after expiry", 11 * time.Second, true, true, 3},
		{"failure is not cached", 0, true, true, 4},
		{"recovers", 0, false, false, 5},
		{"cached after recovery", 0, false, false, 5},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		fail.Store(st.fail)
		info, err := s.Current(ctx)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: Current() = %+v, %v; want error %v", st.name, info, err, st.wantErr)
		}
		if !st.wantErr && info.Version != "1" {
			t.Fatalf("%s: Current() = %+v", st.name, info)
		}
		if got := vs.hits.Load(); got != st.wantFetch {
			t.Fatalf("%s: %d fetches, want %d", st.name, got, st.wantFetch)
		}
	}
}

func TestHTTPSourceNoCache(t *testing.T) {
	vs := newVersionServer(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"version":"1"}`) })
	s := newSource(t, vs.url(), version.WithCacheTTL(-1))
	for range 3 {
		if _, err := s.Current(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := vs.hits.Load(); got != 3 {
		t.Errorf("%d fetches, want 3", got)
	}
}

// blockingDoer answers each request after release, or fails it when the
// request's context ends. It counts requests.
type blockingDoer struct {
	entered chan struct{}
	release chan struct{}
	calls   atomic.Int32
}

func (d *blockingDoer) Do(r *http.Request) (*http.Response, error) {
	d.calls.Add(1)
	d.entered <- struct{}{}
	select {
	case <-d.release:
		return &http.Response{
			StatusCode:    http.StatusOK,
			Body:          io.NopCloser(strings.NewReader(`{"version":"shared"}`)),
			ContentLength: -1,
		}, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

func TestHTTPSourceSharesOneFetch(t *testing.T) {
	const callers = 8
	d := &blockingDoer{entered: make(chan struct{}, callers), release: make(chan struct{})}
	s := newSource(t, "http://version.invalid/version.json", version.WithDoer(d), version.WithFetchTimeout(10*time.Second))
	joined := make(chan struct{}, callers)
	version.SetJoinHook(s, func() { joined <- struct{}{} })

	type result struct {
		info version.Info
		err  error
	}
	results := make(chan result, callers)
	for range callers {
		go func() {
			info, err := s.Current(context.Background())
			results <- result{info, err}
		}()
	}
	<-d.entered
	for range callers - 1 {
		<-joined
	}
	close(d.release)
	for range callers {
		r := <-results
		if r.err != nil || r.info.Version != "shared" {
			t.Errorf("Current() = %+v, %v", r.info, r.err)
		}
	}
	if got := d.calls.Load(); got != 1 {
		t.Errorf("%d fetches, want 1", got)
	}
}

func TestHTTPSourceFetcherCanceled(t *testing.T) {
	// When the caller that fetches gives up, a caller that joined it
	// fetches again instead of failing with someone else's cancellation.
	d := &blockingDoer{entered: make(chan struct{}, 2), release: make(chan struct{})}
	s := newSource(t, "http://version.invalid/version.json", version.WithDoer(d), version.WithFetchTimeout(10*time.Second))
	joined := make(chan struct{}, 1)
	version.SetJoinHook(s, func() { joined <- struct{}{} })

	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := s.Current(ctx)
		leader <- err
	}()
	<-d.entered
	follower := make(chan version.Info, 1)
	go func() {
		info, err := s.Current(context.Background())
		if err != nil {
			t.Errorf("follower: %v", err)
		}
		follower <- info
	}()
	<-joined
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Errorf("leader error = %v, want Canceled", err)
	}
	<-d.entered // the follower's own fetch
	close(d.release)
	if got := <-follower; got.Version != "shared" {
		t.Errorf("follower got %+v", got)
	}
	if got := d.calls.Load(); got != 2 {
		t.Errorf("%d fetches, want 2", got)
	}
}

func TestHTTPSourceWaiterContext(t *testing.T) {
	d := &blockingDoer{entered: make(chan struct{}, 1), release: make(chan struct{})}
	s := newSource(t, "http://version.invalid/version.json", version.WithDoer(d), version.WithFetchTimeout(10*time.Second))
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.Current(context.Background()); err != nil {
			t.Errorf("fetcher: %v", err)
		}
	})
	<-d.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Current(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("waiter error = %v, want Canceled", err)
	}
	close(d.release)
	wg.Wait()
}

func TestNewHTTPSourceInvalidURL(t *testing.T) {
	for _, u := range []string{"", "/version.json", "ftp://host/version.json", "http://", "://x", "http://%zz/"} {
		if _, err := version.NewHTTPSource(u); err == nil {
			t.Errorf("NewHTTPSource(%q) succeeded, want error", u)
		}
	}
}

func TestStaticAndSourceFunc(t *testing.T) {
	got, err := version.Static{Version: "1", Changelog: "c"}.Current(context.Background())
	if err != nil || got != (version.Info{Version: "1", Changelog: "c"}) {
		t.Errorf("Static.Current() = %+v, %v", got, err)
	}
	if _, err := (version.Static{}).Current(context.Background()); !errors.Is(err, version.ErrInvalidInfo) {
		t.Errorf("empty Static error = %v, want ErrInvalidInfo", err)
	}
	f := version.SourceFunc(func(context.Context) (version.Info, error) { return version.Info{Version: "f"}, nil })
	if got, _ := f.Current(context.Background()); got.Version != "f" {
		t.Errorf("SourceFunc.Current() = %+v", got)
	}
}

// panicDoer panics on its first request and answers the others.
type panicDoer struct{ calls atomic.Int32 }

func (d *panicDoer) Do(*http.Request) (*http.Response, error) {
	if d.calls.Add(1) == 1 {
		panic("transport bug")
	}
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(`{"version":"ok"}`))}, nil
}

func TestHTTPSourceDoerPanicReleasesFetch(t *testing.T) {
	s := newSource(t, "http://version.invalid/version.json", version.WithDoer(&panicDoer{}))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the Doer's panic was swallowed")
			}
		}()
		_, _ = s.Current(context.Background())
	}()
	info, err := s.Current(context.Background())
	if err != nil || info.Version != "ok" {
		t.Errorf("Current after a panic = %+v, %v", info, err)
	}
}

// An HTTPSource has no Close, so nothing it starts may outlive a fetch:
// with the default client, no keep-alive connection (and none of its
// goroutines) stays open once Current has returned, while the version.json
// server is still up. It uses no global transport either.
func TestHTTPSourceLeavesNoConnectionOpen(t *testing.T) {
	vs := newVersionServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"1.2.3"}`)
	})
	ignore := goleak.IgnoreCurrent()
	src := newSource(t, vs.url(), version.WithCacheTTL(-1))
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := src.Current(ctx)
		cancel()
		if err != nil || info.Version != "1.2.3" {
			t.Fatalf("Current = %+v, %v; want version 1.2.3", info, err)
		}
	}
	if got := vs.hits.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2 (cache disabled)", got)
	}
	goleak.VerifyNone(t, ignore)
}
