package task

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/callback"
)

// Defaults of the options.
const (
	// DefaultQueueSize is the number of tasks that may wait for a worker.
	DefaultQueueSize = 1024
	// DefaultRetention is how long a finished task stays replayable.
	DefaultRetention = 10 * time.Minute
	// DefaultSendTimeout bounds each send to the gateway (PROTOCOL.md section 7).
	DefaultSendTimeout = 2 * time.Second
	// DefaultMaxResultBytes bounds a task's JSON-encoded result, so that its
	// task_completed event fits the gateway's 100 KiB body limit once it is
	// quoted as a JSON string.
	DefaultMaxResultBytes = 32 << 10
	// DefaultKind is the kind of task identifiers: "task:<id>".
	DefaultKind = "task"
	// DefaultStreamPath is the path of the default stream URL,
	// /api/sse/tasks?task_id=<id>.
	DefaultStreamPath = "/api/sse/tasks"
	// DefaultStreamParam is the query parameter of the default stream URL.
	DefaultStreamParam = "task_id"
)

// DefaultWorkers returns the default size of the worker pool: four workers
// per usable CPU (runtime.GOMAXPROCS), because tasks usually wait on I/O.
func DefaultWorkers() int { return 4 * runtime.GOMAXPROCS(0) }

// An Option configures a [Runner]. Options are made by the With functions of
// this package.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	workers        int
	queueSize      int
	retention      time.Duration
	sendTimeout    time.Duration
	maxResultBytes int
	kind           string
	streamURL      func(id string) string
	matcher        callback.Matcher
	routeSet       bool
	logger         *slog.Logger
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	now            func() time.Time
	errorMessage   func(error) string
	cancelledEvent bool
	resumeEvery    time.Duration // how often stalled deliveries are resumed; tests change it
}

func defaultConfig() config {
	return config{
		workers:        DefaultWorkers(),
		queueSize:      DefaultQueueSize,
		retention:      DefaultRetention,
		sendTimeout:    DefaultSendTimeout,
		maxResultBytes: DefaultMaxResultBytes,
		kind:           DefaultKind,
		now:            time.Now,
		errorMessage:   func(err error) string { return err.Error() },
		resumeEvery:    resumeInterval,
	}
}

// WithWorkers sets the size of the worker pool: at most n task functions
// run at the same time. The default is [DefaultWorkers]. n must be at least
// 1; [New] fails otherwise.
func WithWorkers(n int) Option { return optionFunc(func(c *config) { c.workers = n }) }

// WithQueueSize sets how many started tasks may wait for a free worker.
// Beyond that, [Runner.Start] returns [ErrQueueFull]. Zero means no queue:
// Start succeeds only while fewer tasks than workers are pending or running.
// A task leaves the count when it finishes ([Runner.Wait] returns after
// that), except that a task cancelled while queued keeps its place until a
// worker takes it off the queue. The default is [DefaultQueueSize]; a
// negative n makes [New] fail.
func WithQueueSize(n int) Option { return optionFunc(func(c *config) { c.queueSize = n }) }

// WithRetention sets how long a finished task, with its events, is kept for
// [Runner.Get] and for browsers that connect late. After that it is dropped
// and a browser that connects gets "task not found". The default is
// [DefaultRetention]; d must be positive, [New] fails otherwise.
func WithRetention(d time.Duration) Option { return optionFunc(func(c *config) { c.retention = d }) }

// WithSendTimeout bounds each send to the gateway. The default is
// [DefaultSendTimeout]; d must be positive, [New] fails otherwise.
func WithSendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.sendTimeout = d })
}

// WithMaxResultBytes bounds the JSON encoding of a task's result. A task
// whose result is larger fails with "task result too large" instead, because
// the gateway would refuse the event. The default is [DefaultMaxResultBytes];
// n must be positive, [New] fails otherwise.
func WithMaxResultBytes(n int) Option {
	return optionFunc(func(c *config) { c.maxResultBytes = n })
}

// WithKind sets the kind of task identifiers, "<kind>:<id>". The default is
// [DefaultKind] ("task"). Changing it changes the default matcher's kind as
// well; a matcher given with [WithStreamURL] must produce this kind. The
// kind must be non-empty and free of ':'; [New] fails otherwise.
func WithKind(kind string) Option { return optionFunc(func(c *config) { c.kind = kind }) }

// WithStreamURL sets the stream URL handed out for each task (the URL the
// browser opens on the gateway) together with the matcher that recognizes
// it. They travel together because the matcher must map streamURL(id) back
// to the identifier "<kind>:<id>"; [New] checks this with a sample id and
// fails when it does not hold, or when either is nil.
//
// The default is "/api/sse/tasks?task_id=<id>" with
// callback.Query(kind, "/api/sse/tasks", "task_id").
func WithStreamURL(streamURL func(id string) string, m callback.Matcher) Option {
	return optionFunc(func(c *config) {
		c.streamURL = streamURL
		c.matcher = m
		c.routeSet = true
	})
}

// WithLogger sets the logger. A nil logger, like the default, discards
// everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithMeterProvider sets the meter provider. Nil, like the default, means
// the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithTracerProvider sets the tracer provider. Nil, like the default, means
// the global provider.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// WithClock sets the function that tells the time, for event timestamps and
// retention; tests pass a fake clock. Nil, like the default, means time.Now.
func WithClock(now func() time.Time) Option { return optionFunc(func(c *config) { c.now = now }) }

// WithErrorMessage sets how the error a task function returns becomes the
// "error" text of its task_failed event, which the browser sees. The default
// is err.Error(); pass a function that hides internal details if errors may
// carry them. Nil means the default. Panics are always reported as
// "task panicked", never with the panic value.
func WithErrorMessage(f func(err error) string) Option {
	return optionFunc(func(c *config) { c.errorMessage = f })
}

// WithCancelledEvent makes a cancelled task end with a task_cancelled event
// (data {}) instead of the default task_failed with
// {"error":"task cancelled","code":"CANCELLED"}. Give it only when every
// page that follows tasks closes its EventSource on task_cancelled or on
// connection_close: a page that closes only on task_completed and
// task_failed, such as the generation-1 ElectronicsInventory frontend,
// reconnects to a cancelled task's stream forever (see "Clients" in the
// package documentation).
func WithCancelledEvent() Option {
	return optionFunc(func(c *config) { c.cancelledEvent = true })
}

// sampleID is the id used to check that a matcher follows its stream URL.
const sampleID = "01234567-89ab-4cde-8f01-23456789abcd"

// resolve fills the defaults that depend on other options and validates c.
func (c *config) resolve() error {
	var errs []error
	if c.workers < 1 {
		errs = append(errs, fmt.Errorf("workers must be at least 1, got %d", c.workers))
	}
	if c.queueSize < 0 {
		errs = append(errs, fmt.Errorf("queue size must not be negative, got %d", c.queueSize))
	}
	if c.retention <= 0 {
		errs = append(errs, fmt.Errorf("retention must be positive, got %v", c.retention))
	}
	if c.sendTimeout <= 0 {
		errs = append(errs, fmt.Errorf("send timeout must be positive, got %v", c.sendTimeout))
	}
	if c.maxResultBytes <= 0 {
		errs = append(errs, fmt.Errorf("max result bytes must be positive, got %d", c.maxResultBytes))
	}
	if c.kind == "" || strings.Contains(c.kind, ":") {
		errs = append(errs, fmt.Errorf("kind %q must be non-empty and free of ':'", c.kind))
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.errorMessage == nil {
		c.errorMessage = func(err error) string { return err.Error() }
	}
	if !c.routeSet {
		c.streamURL = defaultStreamURL
		c.matcher = callback.Query(c.kind, DefaultStreamPath, DefaultStreamParam)
	}
	switch {
	case c.streamURL == nil || c.matcher == nil:
		errs = append(errs, errors.New("WithStreamURL needs both a stream URL function and a matcher"))
	case len(errs) == 0:
		if err := c.checkRoute(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("task: invalid options: %w", err)
	}
	return nil
}

// checkRoute reports whether the matcher maps the stream URL of a sample id
// back to its identifier.
func (c *config) checkRoute() error {
	raw := c.streamURL(sampleID)
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("stream URL %q does not parse: %w", raw, err)
	}
	m, ok, err := c.matcher.Match(u)
	switch want := c.kind + ":" + sampleID; {
	case err != nil:
		return fmt.Errorf("matcher refuses stream URL %q: %w", raw, err)
	case !ok:
		return fmt.Errorf("matcher does not match stream URL %q", raw)
	case m.Identifier != want:
		return fmt.Errorf("matcher maps stream URL %q to %q, want %q", raw, m.Identifier, want)
	}
	return nil
}

func defaultStreamURL(id string) string {
	return DefaultStreamPath + "?" + DefaultStreamParam + "=" + url.QueryEscape(id)
}
