// Package telemetry is the one place where the module's packages set up
// OpenTelemetry: the meter and tracer of a package, under an
// instrumentation scope named by the package's import path and versioned
// with [Version], and the common instruments, with one histogram bucket
// list for every duration.
//
// It imports only the OpenTelemetry API. Instrument names, units and
// attributes are chosen by each package; README's metrics table lists them.
package telemetry

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Version is the version of the module, reported as the version of every
// instrumentation scope. Bump it with each release.
const Version = "0.1.0"

// durationBuckets are the explicit bucket boundaries, in seconds, of every
// duration histogram: from half a millisecond to the 10 s that bound the
// slowest operation (a connect callback, whose gateway timeout is 5 s,
// or a publish waiting for a confirm).
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// DurationBuckets returns the bucket boundaries of every duration
// histogram, in seconds. The caller may modify the slice.
func DurationBuckets() []float64 { return append([]float64(nil), durationBuckets...) }

// Scope is the meter and tracer of one package, and the instruments made
// from them. Instrument constructors never return nil: a failure is kept
// for [Scope.Err] and a no-op instrument returned in its place.
//
// A Scope is used by the constructor that makes it, then dropped; it is not
// safe for concurrent use.
type Scope struct {
	// Meter is the scope's meter.
	Meter metric.Meter
	// Tracer is the scope's tracer.
	Tracer trace.Tracer

	errs []error
}

// New returns the scope named name, the import path of the package that
// records, with its meter from mp and its tracer from tp. A nil provider
// means the OpenTelemetry global one.
func New(name string, mp metric.MeterProvider, tp trace.TracerProvider) *Scope {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return &Scope{
		Meter:  mp.Meter(name, metric.WithInstrumentationVersion(Version)),
		Tracer: tp.Tracer(name, trace.WithInstrumentationVersion(Version)),
	}
}

// Counter returns the int64 counter name.
func (s *Scope) Counter(name, description, unit string) metric.Int64Counter {
	c, err := s.Meter.Int64Counter(name, metric.WithDescription(description), metric.WithUnit(unit))
	if s.fail(name, err) || c == nil {
		return noop.Int64Counter{}
	}
	return c
}

// UpDownCounter returns the int64 up-down counter name.
func (s *Scope) UpDownCounter(name, description, unit string) metric.Int64UpDownCounter {
	c, err := s.Meter.Int64UpDownCounter(name, metric.WithDescription(description), metric.WithUnit(unit))
	if s.fail(name, err) || c == nil {
		return noop.Int64UpDownCounter{}
	}
	return c
}

// Duration returns the histogram name of durations in seconds, with the
// buckets of [DurationBuckets].
func (s *Scope) Duration(name, description string) metric.Float64Histogram {
	h, err := s.Meter.Float64Histogram(name, metric.WithDescription(description), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if s.fail(name, err) || h == nil {
		return noop.Float64Histogram{}
	}
	return h
}

// fail keeps err, if any, and reports whether there was one.
func (s *Scope) fail(name string, err error) bool {
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("instrument %s: %w", name, err))
		return true
	}
	return false
}

// Err returns the failures to create instruments, joined, or nil.
func (s *Scope) Err() error { return errors.Join(s.errs...) }
