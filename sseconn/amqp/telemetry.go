package amqp

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// scope is the instrumentation scope of the package's meter and tracer.
const scope = "github.com/ssegate/ssegate/sseconn/amqp"

// Publish outcomes, the "outcome" attribute of ssegate.amqp.publishes.
const (
	outcomeOK           = "ok"
	outcomeUnroutable   = "unroutable"
	outcomeNacked       = "nacked"
	outcomeUnconfirmed  = "unconfirmed"
	outcomeNotConnected = "not_connected"
	outcomeBlocked      = "blocked"
	outcomeInvalid      = "invalid"
	outcomeCanceled     = "canceled"
	outcomeClosed       = "closed"
	outcomeError        = "error"
)

// telemetry holds the instruments, created once per publisher.
type telemetry struct {
	tracer     trace.Tracer
	publishes  metric.Int64Counter
	latency    metric.Float64Histogram
	losses     metric.Int64Counter
	reconnects metric.Int64Counter
}

func newTelemetry(mp metric.MeterProvider, tp trace.TracerProvider) (*telemetry, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	m := mp.Meter(scope)
	t := &telemetry{tracer: tp.Tracer(scope)}
	var err error
	if t.publishes, err = m.Int64Counter("ssegate.amqp.publishes",
		metric.WithDescription("Publish attempts, by route and outcome."), metric.WithUnit("{message}")); err != nil {
		return nil, err
	}
	if t.latency, err = m.Float64Histogram("ssegate.amqp.publish.duration",
		metric.WithDescription("Time from writing a message to the broker until its confirm, or until the publish gave up."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)); err != nil {
		return nil, err
	}
	if t.losses, err = m.Int64Counter("ssegate.amqp.connection.losses",
		metric.WithDescription("Connections to the broker lost."), metric.WithUnit("{connection}")); err != nil {
		return nil, err
	}
	if t.reconnects, err = m.Int64Counter("ssegate.amqp.reconnects",
		metric.WithDescription("Reconnection attempts, by outcome (ok or error)."), metric.WithUnit("{attempt}")); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *telemetry) published(ctx context.Context, rt, outcome string) {
	t.publishes.Add(ctx, 1, metric.WithAttributes(
		attribute.String("route", rt), attribute.String("outcome", outcome)))
}

func outcomeAttr(outcome string) metric.AddOption {
	return metric.WithAttributes(attribute.String("outcome", outcome))
}
