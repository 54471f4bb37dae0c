package callback

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/otelcheck"
	"github.com/ssegate/ssegate/internal/telemetry"
)

// scope is the instrumentation scope of the handler's meter and tracer.
const scope = "github.com/ssegate/ssegate/callback"

// Outcomes, the "outcome" attribute of ssegate.callback.requests.
const (
	outcomeAccepted         = "accepted"           // connect or disconnect handled by a service
	outcomeUnmatched        = "unmatched"          // no route: connect 400, disconnect 200
	outcomeRejected         = "rejected"           // typed rejection
	outcomeInvalid          = "invalid"            // malformed body or URL: 400
	outcomeUnauthorized     = "unauthorized"       // authentication failed
	outcomeTooLarge         = "too_large"          // 413
	outcomeMethodNotAllowed = "method_not_allowed" // 405
	outcomeUnavailable      = "unavailable"        // connect during Shutdown: 503
	outcomeError            = "error"              // service error: 500
	outcomePanic            = "panic"              // recovered panic: 500
)

// unknown is the action or kind attribute when there is none to report.
const unknown = "unknown"

// instruments holds the tracer and the instruments, created once per
// handler.
type instruments struct {
	sets     attrSets          // attribute sets of record, by action, outcome and kind
	tracing  otelcheck.Tracing // whether spans can be recorded
	tracer   trace.Tracer
	prop     propagation.TraceContext
	requests metric.Int64Counter
	duration metric.Float64Histogram
}

func newInstruments(mp metric.MeterProvider, tp trace.TracerProvider) (*instruments, error) {
	s := telemetry.New(scope, mp, tp)
	t := &instruments{
		tracer:   s.Tracer,
		tracing:  otelcheck.For(tp),
		requests: s.Counter("ssegate.callback.requests", "Callback requests, by action, outcome and identifier kind.", "{request}"),
		duration: s.Duration("ssegate.callback.duration", "Duration of callback requests, services included."),
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// start starts the span of a decoded callback. A W3C traceparent (and
// tracestate) forwarded in the browser's headers becomes the parent, so the
// callback joins the browser's trace; a span already in ctx (for example
// from HTTP middleware) is then linked. Without a forwarded traceparent the
// span in ctx, if any, is the parent.
//
// When no span can be recorded (see otelcheck) it starts none and returns a
// nil span; the forwarded span context still becomes ctx's, as a
// non-recording span would carry it.
func (t *instruments) start(ctx context.Context, req *Request) (context.Context, trace.Span) {
	if t.tracing.Off() {
		if len(req.Header[traceparentHeader]) > 0 {
			remote := trace.SpanContextFromContext(t.prop.Extract(context.Background(), propagation.HeaderCarrier(req.Header)))
			if remote.IsValid() {
				ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
			}
		}
		return ctx, nil
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("ssegate.callback.action", req.Action),
			attribute.String("url.path", req.URL.Path),
		),
	}
	if req.Reason != "" {
		opts = append(opts, trace.WithAttributes(attribute.String("ssegate.callback.reason", req.Reason)))
	}
	remote := trace.SpanContextFromContext(t.prop.Extract(context.Background(), propagation.HeaderCarrier(req.Header)))
	if remote.IsValid() {
		if local := trace.SpanContextFromContext(ctx); local.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: local}))
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
	}
	return t.tracer.Start(ctx, "callback."+req.Action, opts...)
}

// traceparentHeader is the canonical name of the W3C trace context header.
const traceparentHeader = "Traceparent"

// end records the result on the span and ends it. A nil span is not
// recorded.
func (t *instruments) end(span trace.Span, res *result) {
	if span == nil {
		return
	}
	span.SetAttributes(
		attribute.Int("http.response.status_code", res.status),
		attribute.String("ssegate.callback.outcome", res.outcome),
	)
	if res.identifier != "" {
		span.SetAttributes(
			attribute.String("ssegate.identifier", res.identifier),
			attribute.String("ssegate.identifier.kind", res.kind),
		)
	}
	if res.status >= 500 {
		if res.err != nil {
			span.RecordError(res.err)
		}
		span.SetStatus(codes.Error, res.outcome)
	}
	span.End()
}

// record counts a finished callback request and its duration.
func (t *instruments) record(ctx context.Context, res *result, d time.Duration) {
	set := t.sets.get(res.action, res.outcome, res.kind)
	t.requests.Add(ctx, 1, set)
	t.duration.Record(ctx, d.Seconds(), set)
}

// maxAttrSets caps the attribute sets kept. Kinds come from identifiers, so
// a program with unusually many kinds gets sets built per request past it.
const maxAttrSets = 1024

// attrSets caches the attribute set of each (action, outcome, kind), so
// that a callback does not build one per request.
type attrSets struct {
	m sync.Map // attrKey -> metric.MeasurementOption
	n atomic.Int64
}

type attrKey struct{ action, outcome, kind string }

func (c *attrSets) get(action, outcome, kind string) metric.MeasurementOption {
	k := attrKey{action, outcome, kind}
	if v, ok := c.m.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	set := metric.WithAttributeSet(attribute.NewSet(
		attribute.String("action", action),
		attribute.String("outcome", outcome),
		attribute.String("kind", kind),
	))
	if c.n.Add(1) <= maxAttrSets {
		c.m.Store(k, set)
	}
	return set
}
