package amqp

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/telemetry"
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

// instruments holds the tracer and the instruments, created once per
// publisher.
type instruments struct {
	tracer     trace.Tracer
	publishes  metric.Int64Counter
	latency    metric.Float64Histogram
	losses     metric.Int64Counter
	reconnects metric.Int64Counter
}

func newInstruments(mp metric.MeterProvider, tp trace.TracerProvider) (*instruments, error) {
	s := telemetry.New(scope, mp, tp)
	t := &instruments{
		tracer:    s.Tracer,
		publishes: s.Counter("ssegate.amqp.publishes", "Publish attempts, by route and outcome.", "{message}"),
		latency: s.Duration("ssegate.amqp.publish.duration",
			"Time from writing a message to the broker until its confirm, or until the publish gave up."),
		losses:     s.Counter("ssegate.amqp.connection.losses", "Connections to the broker lost.", "{connection}"),
		reconnects: s.Counter("ssegate.amqp.reconnects", "Reconnection attempts, by outcome (ok or error).", "{attempt}"),
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *instruments) published(ctx context.Context, rt, outcome string) {
	t.publishes.Add(ctx, 1, metric.WithAttributes(
		attribute.String("route", rt), attribute.String("outcome", outcome)))
}

func outcomeAttr(outcome string) metric.AddOption {
	return metric.WithAttributes(attribute.String("outcome", outcome))
}
