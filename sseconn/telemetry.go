package sseconn

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/otelcheck"
)

// scope is the instrumentation scope of the package's meter and tracer.
const scope = "github.com/ssegate/ssegate/sseconn"

// Send outcomes, the "outcome" attribute of ssegate.events.
const (
	outcomeOK           = "ok"
	outcomeBuffered     = "buffered"
	outcomeNotConnected = "not_connected"
	outcomeGone         = "gone"
	outcomeInvalid      = "invalid"
	outcomeGatewayError = "gateway_error"
	outcomeTransport    = "transport_error"
	outcomeCanceled     = "canceled"
	outcomeShutdown     = "shutdown"
)

// Removal reasons, the "reason" attribute of ssegate.connections.disconnects.
const (
	reasonUnregister = "unregister"
	reasonGone       = "gone"
	reasonSweep      = "sweep"
)

// telemetry holds the instruments, created once per manager.
type telemetry struct {
	kinds        kindTels          // attribute options by kind
	tracing      otelcheck.Tracing // whether spans can be recorded
	tracer       trace.Tracer
	connects     metric.Int64Counter
	disconnects  metric.Int64Counter
	replacements metric.Int64Counter
	events       metric.Int64Counter
	active       metric.Int64UpDownCounter
	latency      metric.Float64Histogram
}

func newTelemetry(mp metric.MeterProvider, tp trace.TracerProvider) (*telemetry, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(scope)
	t := &telemetry{tracer: tp.Tracer(scope), tracing: otelcheck.For(tp)}
	var err error
	if t.connects, err = m.Int64Counter("ssegate.connections.connects",
		metric.WithDescription("Streams registered."), metric.WithUnit("{connection}")); err != nil {
		return nil, err
	}
	if t.disconnects, err = m.Int64Counter("ssegate.connections.disconnects",
		metric.WithDescription("Live mappings removed, by reason."), metric.WithUnit("{connection}")); err != nil {
		return nil, err
	}
	if t.replacements, err = m.Int64Counter("ssegate.connections.replacements",
		metric.WithDescription("Registrations that replaced another stream of the same identifier."), metric.WithUnit("{connection}")); err != nil {
		return nil, err
	}
	if t.events, err = m.Int64Counter("ssegate.events",
		metric.WithDescription("Send attempts, by outcome."), metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if t.active, err = m.Int64UpDownCounter("ssegate.connections.active",
		metric.WithDescription("Live identifier-to-token mappings."), metric.WithUnit("{connection}")); err != nil {
		return nil, err
	}
	if t.latency, err = m.Float64Histogram("ssegate.send.duration",
		metric.WithDescription("Duration of sends to the gateway, retries and waiting included."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) connected(ctx context.Context, identifier string, replaced bool) {
	set := t.kinds.get(Kind(identifier)).kind
	t.connects.Add(ctx, 1, set...)
	if replaced {
		t.replacements.Add(ctx, 1, set...)
		return
	}
	t.active.Add(ctx, 1, set...)
}

func (t *telemetry) removed(ctx context.Context, identifier, reason string) {
	kt := t.kinds.get(Kind(identifier))
	t.disconnects.Add(ctx, 1, kt.removed[reason]...)
	t.active.Add(ctx, -1, kt.kind...)
}
