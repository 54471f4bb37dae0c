package task

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// scope is the instrumentation scope of the package's meter and tracer.
const scope = "github.com/ssegate/ssegate/task"

// metrics holds the package's instruments and their precomputed attribute
// sets. Attributes carry the identifier kind, never an id.
type metrics struct {
	startedC  metric.Int64Counter
	finishedC metric.Int64Counter
	rejectedC metric.Int64Counter
	activeC   metric.Int64UpDownCounter
	sendErrC  metric.Int64Counter

	kind     metric.MeasurementOption
	statuses map[Status]metric.MeasurementOption
	reasons  map[string]metric.MeasurementOption // rejection and send error reasons
}

func newMetrics(mp metric.MeterProvider, kind string) (*metrics, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter(scope)
	m := &metrics{
		kind:     metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", kind))),
		statuses: make(map[Status]metric.MeasurementOption),
		reasons:  make(map[string]metric.MeasurementOption),
	}
	for _, s := range []Status{StatusCompleted, StatusFailed, StatusCancelled} {
		m.statuses[s] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("kind", kind), attribute.String("status", string(s))))
	}
	for _, r := range []string{"queue_full", "shutdown", "gone", "invalid", "error"} {
		m.reasons[r] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("kind", kind), attribute.String("reason", r)))
	}
	var err, e error
	m.startedC, e = meter.Int64Counter("ssegate.task.started",
		metric.WithDescription("Tasks that began to run."), metric.WithUnit("{task}"))
	err = errors.Join(err, e)
	m.finishedC, e = meter.Int64Counter("ssegate.task.finished",
		metric.WithDescription("Tasks that finished, by status."), metric.WithUnit("{task}"))
	err = errors.Join(err, e)
	m.rejectedC, e = meter.Int64Counter("ssegate.task.rejected",
		metric.WithDescription("Tasks that Start refused, by reason (queue_full, shutdown)."),
		metric.WithUnit("{task}"))
	err = errors.Join(err, e)
	m.activeC, e = meter.Int64UpDownCounter("ssegate.task.active",
		metric.WithDescription("Tasks pending or running."), metric.WithUnit("{task}"))
	err = errors.Join(err, e)
	m.sendErrC, e = meter.Int64Counter("ssegate.task.send_errors",
		metric.WithDescription("Event sends that failed, by reason (gone, invalid, error)."),
		metric.WithUnit("{event}"))
	err = errors.Join(err, e)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) accepted(ctx context.Context) { m.activeC.Add(ctx, 1, m.kind) }

func (m *metrics) started(ctx context.Context) { m.startedC.Add(ctx, 1, m.kind) }

func (m *metrics) finished(ctx context.Context, s Status) {
	m.finishedC.Add(ctx, 1, m.statuses[s])
	m.activeC.Add(ctx, -1, m.kind)
}

func (m *metrics) reject(ctx context.Context, reason string) {
	m.rejectedC.Add(ctx, 1, m.reasons[reason])
}

func (m *metrics) sendError(ctx context.Context, reason string) {
	m.sendErrC.Add(ctx, 1, m.reasons[reason])
}

func tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(scope)
}
