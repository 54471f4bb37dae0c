package task

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/ssegate/ssegate/internal/telemetry"
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

func newMetrics(s *telemetry.Scope, kind string) *metrics {
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
	m.startedC = s.Counter("ssegate.task.started", "Tasks that began to run.", "{task}")
	m.finishedC = s.Counter("ssegate.task.finished", "Tasks that finished, by status.", "{task}")
	m.rejectedC = s.Counter("ssegate.task.rejected", "Tasks that Start refused, by reason (queue_full, shutdown).", "{task}")
	m.activeC = s.UpDownCounter("ssegate.task.active", "Tasks pending or running.", "{task}")
	m.sendErrC = s.Counter("ssegate.task.send_errors", "Event sends that failed, by reason (gone, invalid, error).", "{event}")
	return m
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
