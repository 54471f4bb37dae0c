package task

import (
	"context"
	"errors"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ssegate/ssegate/sseconn"
)

func TestTelemetry(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	conn := newFakeConn()
	conn.SetHook(func(context.Context, string, sseconn.Event) error { return sseconn.ErrGone })
	r := newTestRunner(t, conn, WithWorkers(1), WithQueueSize(0),
		WithMeterProvider(mp), WithTracerProvider(tp))

	// A parent span in Start's context becomes the parent of the run.
	parentCtx, parent := tp.Tracer("test").Start(context.Background(), "request")
	ok, err := r.Start(parentCtx, func(context.Context, *Progress) (any, error) { return 1, nil })
	must(t, err)
	parent.End()
	waitDone(t, r, ok.ID)
	connect(t, r, ok.StreamURL, "tok") // the replay fails with ErrGone: one send error

	failed := startTask(t, r, func(context.Context, *Progress) (any, error) { return nil, errors.New("x") })
	waitDone(t, r, failed.ID)

	s := newStepper(nil)
	blocker := startTask(t, r, s.fn)
	s.step(t, Update{Text: "running", Value: 0.5})
	if _, err := r.Start(context.Background(), s.fn); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Start = %v, want ErrQueueFull", err)
	}
	must(t, r.Cancel(blocker.ID))
	waitDone(t, r, blocker.ID)

	var rm metricdata.ResourceMetrics
	must(t, reader.Collect(context.Background(), &rm))
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scope {
			t.Errorf("scope %q, want %q", sm.Scope.Name, scope)
		}
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			default:
				t.Errorf("%s: unexpected data %T", m.Name, m.Data)
			}
			for _, p := range points {
				key := m.Name
				var attrs []string
				for _, kv := range p.Attributes.ToSlice() {
					if kv.Key == "task_id" || kv.Key == "id" {
						t.Errorf("%s carries an id attribute", m.Name)
					}
					attrs = append(attrs, string(kv.Key)+"="+kv.Value.AsString())
				}
				sort.Strings(attrs)
				for _, a := range attrs {
					key += " " + a
				}
				got[key] += p.Value
			}
		}
	}
	want := map[string]int64{
		"ssegate.task.started kind=task":                    3,
		"ssegate.task.finished kind=task status=completed":  1,
		"ssegate.task.finished kind=task status=failed":     1,
		"ssegate.task.finished kind=task status=cancelled":  1,
		"ssegate.task.rejected kind=task reason=queue_full": 1,
		"ssegate.task.active kind=task":                     0,
		"ssegate.task.send_errors kind=task reason=gone":    1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	var runs []sdktrace.ReadOnlySpan
	for _, sp := range spans.Ended() {
		if sp.Name() == "task.run" {
			runs = append(runs, sp)
		}
	}
	if len(runs) != 3 {
		t.Fatalf("%d task.run spans, want 3", len(runs))
	}
	statuses := map[string]bool{}
	for _, sp := range runs {
		for _, kv := range sp.Attributes() {
			if kv.Key == "task.status" {
				statuses[kv.Value.AsString()] = true
			}
		}
		if sp.InstrumentationScope().Name != scope {
			t.Errorf("span scope %q", sp.InstrumentationScope().Name)
		}
	}
	if diff := cmp.Diff(map[string]bool{"completed": true, "failed": true, "cancelled": true}, statuses); diff != "" {
		t.Errorf("span statuses (-want +got):\n%s", diff)
	}
	first := runs[0]
	for _, sp := range runs {
		if hasAttr(sp.Attributes(), "task.id", ok.ID) {
			first = sp
		}
	}
	if first.Parent().SpanID() != parent.SpanContext().SpanID() || !first.Parent().IsValid() {
		t.Errorf("run span parent %v, want the request span %v", first.Parent().SpanID(), parent.SpanContext().SpanID())
	}
}

func hasAttr(attrs []attribute.KeyValue, key, value string) bool {
	for _, kv := range attrs {
		if string(kv.Key) == key && kv.Value.AsString() == value {
			return true
		}
	}
	return false
}
