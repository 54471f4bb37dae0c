package sseconn

import (
	"context"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/otelcheck"
	"github.com/ssegate/ssegate/internal/telemetry"
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

// instruments holds the tracer and the instruments, created once per
// manager.
type instruments struct {
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

func newInstruments(mp metric.MeterProvider, tp trace.TracerProvider) (*instruments, error) {
	s := telemetry.New(scope, mp, tp)
	t := &instruments{
		tracer:       s.Tracer,
		tracing:      otelcheck.For(tp),
		connects:     s.Counter("ssegate.connections.connects", "Streams registered.", "{connection}"),
		disconnects:  s.Counter("ssegate.connections.disconnects", "Live mappings removed, by reason.", "{connection}"),
		replacements: s.Counter("ssegate.connections.replacements", "Registrations that replaced another stream of the same identifier.", "{connection}"),
		events:       s.Counter("ssegate.events", "Send attempts, by outcome.", "{event}"),
		active:       s.UpDownCounter("ssegate.connections.active", "Live identifier-to-token mappings.", "{connection}"),
		latency:      s.Duration("ssegate.send.duration", "Duration of sends to the gateway, retries and waiting included."),
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *instruments) connected(ctx context.Context, identifier string, replaced bool) {
	set := t.kinds.get(Kind(identifier)).kind
	t.connects.Add(ctx, 1, set...)
	if replaced {
		t.replacements.Add(ctx, 1, set...)
		return
	}
	t.active.Add(ctx, 1, set...)
}

func (t *instruments) removed(ctx context.Context, identifier, reason string) {
	kt := t.kinds.get(Kind(identifier))
	t.disconnects.Add(ctx, 1, kt.removed[reason]...)
	t.active.Add(ctx, -1, kt.kind...)
}
