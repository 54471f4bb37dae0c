package task

import (
	"errors"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/optcheck"
	"github.com/ssegate/ssegate/internal/routecheck"
)

// Defaults of the options.
const (
	// DefaultQueueSize is the number of tasks that may wait for a worker.
	DefaultQueueSize = 1024
	// DefaultRetention is how long a finished task stays replayable.
	DefaultRetention = 10 * time.Minute
	// DefaultMaxFinished caps the number of finished tasks kept for
	// retention. A finished task with a small result holds about 1.5 KB
	// (BenchmarkFinishedTaskMemory: 1,461 B), so the default cap holds about 15 MB;
	// each result adds its size (up to DefaultMaxResultBytes), so 10,000
	// tasks with maximal results hold about 340 MB.
	DefaultMaxFinished = 10_000
	// DefaultSendTimeout bounds each send to the gateway, well inside the
	// connect callback's 5 s (docs/protocol.md).
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
	maxFinished    int
	sendTimeout    time.Duration
	maxResultBytes int
	kind           string
	streamURL      func(id string) string
	matcher        callback.Matcher
	logger         *slog.Logger
	meterProvider  metric.MeterProvider
	tracerProvider trace.TracerProvider
	now            func() time.Time
	errorMessage   func(error) string
	cancelledEvent bool
	resumeEvery    time.Duration // how often stalled deliveries are resumed; tests change it
	problems       optcheck.Problems
	bus            bus.Bus
	tabs           Tabs
	leaseInterval  time.Duration
	leaseTimeout   time.Duration
}

func defaultConfig() config {
	return config{
		workers:        DefaultWorkers(),
		queueSize:      DefaultQueueSize,
		retention:      DefaultRetention,
		maxFinished:    DefaultMaxFinished,
		sendTimeout:    DefaultSendTimeout,
		maxResultBytes: DefaultMaxResultBytes,
		kind:           DefaultKind,
		now:            time.Now,
		errorMessage:   func(err error) string { return err.Error() },
		resumeEvery:    resumeInterval,
		leaseInterval:  DefaultLeaseInterval,
		leaseTimeout:   DefaultLeaseTimeout,
	}
}

// WithWorkers sets the size of the worker pool: at most n task functions
// run at the same time. Zero means [DefaultWorkers]; a negative n makes
// [New] fail.
func WithWorkers(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithWorkers", &c.workers, n) })
}

// WithQueueSize sets how many started tasks may wait for a free worker.
// Beyond that, [Runner.Start] returns [ErrQueueFull]. A task leaves the
// count when it finishes ([Runner.Wait] returns after that), except that a
// task cancelled while queued keeps its place until a worker takes it off
// the queue. Zero means [DefaultQueueSize]; a negative n makes [New] fail.
// See [WithoutQueue] for no queue at all.
func WithQueueSize(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithQueueSize", &c.queueSize, n) })
}

// WithoutQueue runs the Runner without a queue: [Runner.Start] succeeds
// only while fewer tasks than workers are pending or running, and returns
// [ErrQueueFull] otherwise. A later [WithQueueSize] with a positive size
// overrides it.
func WithoutQueue() Option {
	return optionFunc(func(c *config) { c.queueSize = 0 })
}

// WithMaxFinished caps the number of finished tasks kept, besides their
// retention by time: when a task finishes beyond the cap, the oldest
// finished task is dropped at once, as if its retention had ended (a
// browser that connects later gets "task not found"). Running and queued
// tasks do not count. Zero means [DefaultMaxFinished]; a negative n makes
// [New] fail.
func WithMaxFinished(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithMaxFinished", &c.maxFinished, n) })
}

// WithRetention sets how long a finished task, with its events, is kept for
// [Runner.Get] and for browsers that connect late. After that it is dropped
// and a browser that connects gets "task not found". Zero means
// [DefaultRetention]; a negative d makes [New] fail.
func WithRetention(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithRetention", &c.retention, d) })
}

// WithSendTimeout bounds each send to the gateway. Zero means
// [DefaultSendTimeout]; a negative d makes [New] fail.
func WithSendTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithSendTimeout", &c.sendTimeout, d) })
}

// WithMaxResultBytes bounds the JSON encoding of a task's result. A task
// whose result is larger fails with "task result too large" instead, because
// the gateway would refuse the event. Zero means [DefaultMaxResultBytes]; a
// negative n makes [New] fail.
func WithMaxResultBytes(n int) Option {
	return optionFunc(func(c *config) { optcheck.Set(&c.problems, "WithMaxResultBytes", &c.maxResultBytes, n) })
}

// WithKind sets the kind of task identifiers, "<kind>:<id>". Empty means
// [DefaultKind] ("task"). Changing it changes the default matcher's kind as
// well; a matcher given with [WithStreamURL] must produce this kind. A kind
// with ':' makes [New] fail.
func WithKind(kind string) Option {
	return optionFunc(func(c *config) {
		switch {
		case strings.Contains(kind, ":"):
			c.problems.Addf("WithKind", "kind %q contains ':'", kind)
		case kind != "":
			c.kind = kind
		}
	})
}

// WithStreamURL sets the stream URL handed out for each task (the URL the
// browser opens on the gateway) together with the matcher that recognizes
// it. They travel together because the matcher must map streamURL(id) back
// to the identifier "<kind>:<id>"; [New] checks this with a sample id and
// fails when it does not hold. Both nil mean the default; one nil makes New
// fail.
//
// The default is "/api/sse/tasks?task_id=<id>" with
// callback.Query(kind, "/api/sse/tasks", "task_id").
func WithStreamURL(streamURL func(id string) string, m callback.Matcher) Option {
	return optionFunc(func(c *config) {
		switch {
		case streamURL == nil && m == nil:
			c.streamURL, c.matcher = nil, nil
		case streamURL == nil || m == nil:
			c.problems.Addf("WithStreamURL", "needs both a stream URL function and a matcher")
		default:
			c.streamURL, c.matcher = streamURL, m
		}
	})
}

// WithLogger sets the logger. Nil means the default, which discards
// everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

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

// WithClock sets the function that tells the time, for event timestamps and
// retention; tests pass a fake clock. Nil means the default, time.Now.
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
// DefaultLeaseInterval and DefaultLeaseTimeout are the defaults of
// [WithLease].
const (
	DefaultLeaseInterval = time.Second
	DefaultLeaseTimeout  = 5 * time.Second
)

// WithBus runs the runner in AMQP mode, for a backend with several
// replicas: a browser's stream may connect through any replica, whichever
// runs the task. The replica that handles the connect follows the task
// through b and forwards its events to the stream through its own Conn, by
// HTTP; the replica that runs the task answers it. See "AMQP mode" in the
// package documentation. Nil means HTTP mode, one replica.
func WithBus(b bus.Bus) Option { return optionFunc(func(c *config) { c.bus = b }) }

// WithLease sets how often, in AMQP mode, a replica that serves the stream
// of another replica's task asks that replica for the task's state
// (interval), and how long it waits for an answer before it tells the
// browser that the task is lost (timeout). The browser learns that the
// replica running its task died within timeout + interval. Zero means the
// default: [DefaultLeaseInterval] and [DefaultLeaseTimeout]. A negative
// value, or an interval longer than the timeout, makes [New] fail.
func WithLease(interval, timeout time.Duration) Option {
	return optionFunc(func(c *config) {
		if interval != 0 {
			c.leaseInterval = interval
		}
		if timeout != 0 {
			c.leaseTimeout = timeout
		}
	})
}

const sampleID = "01234567-89ab-4cde-8f01-23456789abcd"

// ErrInvalidConfig is wrapped by every error [New] returns for a
// misconfiguration: a nil Conn or a bad option. Each problem is reported,
// joined with [errors.Join].
var ErrInvalidConfig = errors.New("task: invalid configuration")

// resolve fills the defaults that depend on other options and validates c.
func (c *config) resolve() error {
	if c.leaseInterval < 0 || c.leaseTimeout < 0 || (c.leaseTimeout > 0 && c.leaseTimeout < c.leaseInterval) {
		c.problems.Addf("WithLease", "interval %v and timeout %v must not be negative, and the interval at most the timeout", c.leaseInterval, c.leaseTimeout)
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
	if c.matcher == nil {
		c.streamURL = defaultStreamURL
		c.matcher = callback.Query(c.kind, DefaultStreamPath, DefaultStreamParam)
	}
	if len(c.problems) == 0 {
		if err := c.checkRoute(); err != nil {
			c.problems.Add(err)
		}
	}
	return c.problems.Err(ErrInvalidConfig)
}

// checkRoute reports whether the matcher maps the stream URL of a sample
// id back to its identifier.
func (c *config) checkRoute() error {
	return routecheck.Check(c.streamURL(sampleID), c.matcher, c.kind+":"+sampleID)
}

func defaultStreamURL(id string) string {
	return DefaultStreamPath + "?" + DefaultStreamParam + "=" + url.QueryEscape(id)
}
