package sseconn

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

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
	options      sync.Map     // optionKey -> the options of a recording
	cached       atomic.Int64 // options stored so far
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

func kindAttr(identifier string) attribute.KeyValue {
	return attribute.String("kind", Kind(identifier))
}

func (t *instruments) connected(ctx context.Context, identifier string, replaced bool) {
	set := metric.WithAttributes(kindAttr(identifier))
	t.connects.Add(ctx, 1, set)
	if replaced {
		t.replacements.Add(ctx, 1, set)
		return
	}
	t.active.Add(ctx, 1, set)
}

func (t *instruments) removed(ctx context.Context, identifier, reason string) {
	kind := kindAttr(identifier)
	t.disconnects.Add(ctx, 1, metric.WithAttributes(kind, attribute.String("reason", reason)))
	t.active.Add(ctx, -1, metric.WithAttributes(kind))
}

// maxCachedOptions caps the options cache. Kinds come from identifiers, so
// a program with unusually many kinds gets options built per call past it.
const maxCachedOptions = 1024

// optionKey names the attribute options of one recording.
type optionKey struct{ instrument, kind, op, outcome string }

// cachedOptions returns the options for k, building and caching them on
// first use, so that the send path does not rebuild an attribute set per
// send.
func cachedOptions[T any](t *instruments, k optionKey, build func() []T) []T {
	if v, ok := t.options.Load(k); ok {
		return v.([]T)
	}
	o := build()
	if t.cached.Add(1) <= maxCachedOptions {
		t.options.Store(k, o)
	}
	return o
}

// eventOptions are the attributes of ssegate.events.
func (t *instruments) eventOptions(kind, op, outcome string) []metric.AddOption {
	return cachedOptions(t, optionKey{"events", kind, op, outcome}, func() []metric.AddOption {
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("kind", kind), attribute.String("op", op), attribute.String("outcome", outcome)))}
	})
}

// latencyOptions are the attributes of ssegate.send.duration.
func (t *instruments) latencyOptions(kind, outcome string) []metric.RecordOption {
	return cachedOptions(t, optionKey{"latency", kind, "", outcome}, func() []metric.RecordOption {
		return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
			attribute.String("kind", kind), attribute.String("outcome", outcome)))}
	})
}

// spanOptions are the start options of a send's span.
func (t *instruments) spanOptions(kind string) []trace.SpanStartOption {
	return cachedOptions(t, optionKey{"span", kind, "", ""}, func() []trace.SpanStartOption {
		return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("ssegate.kind", kind))}
	})
}

// spanName names the span of op without concatenating per send.
func spanName(op string) string {
	switch op {
	case "send":
		return "sseconn.send"
	case "send_close":
		return "sseconn.send_close"
	case "close":
		return "sseconn.close"
	case "probe":
		return "sseconn.probe"
	case "replace":
		return "sseconn.replace"
	}
	return "sseconn." + op
}
