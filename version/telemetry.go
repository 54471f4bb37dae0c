package version

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/telemetry"
)

// scope is the instrumentation scope name: the package import path.
const scope = "github.com/ssegate/ssegate/version"

// Metric attribute values. Attributes never carry request ids.
const (
	opNotify    = "notify"
	opBroadcast = "broadcast"

	dropLimit   = "limit"
	dropExpired = "expired"
	dropEvicted = "evicted"
	dropInvalid = "invalid"

	connectFlushed = "flushed"
	connectCurrent = "current"
	connectUnknown = "unknown"
	connectWaited  = "handed_off"
	connectResent  = "resent"
)

// instruments holds the notifier's tracer and OpenTelemetry instruments,
// created once, and the attribute sets they are recorded with, precomputed
// so that recording does not allocate.
type instruments struct {
	tracer   trace.Tracer
	events   metric.Int64Counter       // outcome of each notified event, by op and status
	dropped  metric.Int64Counter       // pending events dropped, by reason
	pending  metric.Int64UpDownCounter // events pending right now
	connects metric.Int64Counter       // connects, by what was sent

	eventAttrs   map[string]map[Status]metric.AddOption
	dropAttrs    map[string]metric.AddOption
	connectAttrs map[string]metric.AddOption
}

func newInstruments(mp metric.MeterProvider, tp trace.TracerProvider) (*instruments, error) {
	s := telemetry.New(scope, mp, tp)
	ins := &instruments{
		tracer: s.Tracer,
		events: s.Counter("ssegate.version.events",
			"Version events notified or broadcast, by operation and delivery status.", "{event}"),
		dropped: s.Counter("ssegate.version.pending.dropped",
			"Pending version events dropped before delivery, by reason.", "{event}"),
		pending: s.UpDownCounter("ssegate.version.pending",
			"Version events pending for browsers that are not connected.", "{event}"),
		connects: s.Counter("ssegate.version.connects",
			"Version streams connected, by what the connect sent first.", "{connect}"),
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	ins.eventAttrs = map[string]map[Status]metric.AddOption{}
	for _, op := range []string{opNotify, opBroadcast} {
		ins.eventAttrs[op] = map[Status]metric.AddOption{}
		for _, st := range []Status{Delivered, Pending, Dropped} {
			ins.eventAttrs[op][st] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("op", op), attribute.String("status", st.String())))
		}
	}
	ins.dropAttrs = map[string]metric.AddOption{}
	for _, r := range []string{dropLimit, dropExpired, dropEvicted, dropInvalid} {
		ins.dropAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	ins.connectAttrs = map[string]metric.AddOption{}
	for _, c := range []string{connectFlushed, connectCurrent, connectUnknown, connectWaited, connectResent} {
		ins.connectAttrs[c] = metric.WithAttributeSet(attribute.NewSet(attribute.String("sent", c)))
	}
	return ins, nil
}

func (ins *instruments) event(ctx context.Context, op string, st Status) {
	if o, ok := ins.eventAttrs[op][st]; ok {
		ins.events.Add(ctx, 1, o)
	}
}

func (ins *instruments) drop(ctx context.Context, reason string, n int) {
	if o, ok := ins.dropAttrs[reason]; ok {
		ins.dropped.Add(ctx, int64(n), o)
	}
}

// connect counts a connect and records what it sent on its span.
func (ins *instruments) connect(ctx context.Context, span trace.Span, what string) {
	if o, ok := ins.connectAttrs[what]; ok {
		ins.connects.Add(ctx, 1, o)
	}
	span.SetAttributes(attribute.String("version.sent", what))
}

// start starts the internal span of a Notifier operation, the parent of
// the spans of the sends it makes.
func (ins *instruments) start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return ins.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
}

// endSpan records the status of a notified event on span, and ends it.
func endSpan(span trace.Span, st Status, err error) {
	span.SetAttributes(attribute.String("version.status", st.String()))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
