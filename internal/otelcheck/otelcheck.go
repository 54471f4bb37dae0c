// Package otelcheck tells cheaply whether spans started from a tracer
// provider can be recorded, so that hot paths can skip starting spans that
// nothing would ever see.
package otelcheck

import (
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// defaultGlobal is the global tracer provider that OpenTelemetry installs
// before any SDK is set: it delegates to the provider given to
// otel.SetTracerProvider later, and until then its spans are non-recording.
// It is nil if an SDK was already installed when this package was
// initialised.
var defaultGlobal = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if fmt.Sprintf("%T", tp) == "*global.tracerProvider" {
		return tp
	}
	return nil
}()

// Tracing answers whether spans of one tracer provider can be recorded.
type Tracing struct {
	global bool // the provider is the global one, looked up on each call
	off    bool // the provider is a no-op: spans are never recorded
}

// For returns the Tracing of tp; nil means the global provider, whatever
// it is at the time of each call.
func For(tp trace.TracerProvider) Tracing {
	switch tp.(type) {
	case nil:
		return Tracing{global: true}
	case noop.TracerProvider, *noop.TracerProvider:
		return Tracing{off: true}
	}
	if tp == defaultGlobal {
		return Tracing{global: true}
	}
	if fmt.Sprintf("%T", tp) == "trace.noopTracerProvider" { // trace.NewNoopTracerProvider
		return Tracing{off: true}
	}
	return Tracing{}
}

// Off reports whether a span started now could not be recorded: the
// provider is a no-op, or it is the global one and no SDK has been
// installed with otel.SetTracerProvider. Such a span would only carry the
// parent's span context, which the parent context already carries.
//
// One case is knowingly traded away: OpenTelemetry's eBPF
// auto-instrumentation, which records spans from the default global
// provider by probing its Start. A program under it that wants the
// manager's spans installs an SDK or passes a tracer provider explicitly.
func (t Tracing) Off() bool {
	if t.off {
		return true
	}
	return t.global && defaultGlobal != nil && otel.GetTracerProvider() == defaultGlobal
}
