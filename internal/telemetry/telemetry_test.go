package telemetry

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestScope checks the scope of the instruments and spans, and what each
// helper makes.
func TestScope(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	ctx := context.Background()

	s := New("example.com/pkg", mp, tp)
	s.Counter("c", "a counter", "{x}").Add(ctx, 2)
	s.UpDownCounter("u", "an up-down counter", "{x}").Add(ctx, -1)
	s.Duration("d", "a duration").Record(ctx, 0.003)
	_, span := s.Tracer.Start(ctx, "op")
	span.End()
	if err := s.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}

	want := "example.com/pkg " + Version
	scope := func(s instrumentation.Scope) string { return s.Name + " " + s.Version }
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) != 1 {
		t.Fatalf("%d scopes, want 1", len(rm.ScopeMetrics))
	}
	if diff := cmp.Diff(want, scope(rm.ScopeMetrics[0].Scope)); diff != "" {
		t.Errorf("meter scope (-want +got):\n%s", diff)
	}
	type inst struct{ Name, Unit, Kind string }
	var got []inst
	var bounds []float64
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			kind := "counter"
			if !d.IsMonotonic {
				kind = "updown"
			}
			got = append(got, inst{m.Name, m.Unit, kind})
		case metricdata.Histogram[float64]:
			got = append(got, inst{m.Name, m.Unit, "histogram"})
			bounds = d.DataPoints[0].Bounds
		}
	}
	if diff := cmp.Diff([]inst{{"c", "{x}", "counter"}, {"u", "{x}", "updown"}, {"d", "s", "histogram"}}, got); diff != "" {
		t.Errorf("instruments (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DurationBuckets(), bounds); diff != "" {
		t.Errorf("histogram bounds (-want +got):\n%s", diff)
	}
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	if diff := cmp.Diff(want, scope(spans[0].InstrumentationScope())); diff != "" {
		t.Errorf("tracer scope (-want +got):\n%s", diff)
	}
}

// failingMeter fails to create every instrument.
type failingMeter struct{ noop.Meter }

var errMeter = errors.New("no instruments here")

func (failingMeter) Int64Counter(string, ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return nil, errMeter
}

func (failingMeter) Float64Histogram(string, ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return nil, errMeter
}

// TestErr checks that failures are joined, and that the helpers still
// return usable instruments.
func TestErr(t *testing.T) {
	s := &Scope{Meter: failingMeter{}}
	s.Counter("c", "", "").Add(context.Background(), 1)
	s.Duration("d", "").Record(context.Background(), 1)
	s.UpDownCounter("u", "", "").Add(context.Background(), 1) // the noop meter succeeds
	err := s.Err()
	if !errors.Is(err, errMeter) {
		t.Fatalf("Err = %v, want it to wrap the meter's error", err)
	}
	if diff := cmp.Diff("instrument c: no instruments here\ninstrument d: no instruments here", err.Error()); diff != "" {
		t.Errorf("Err (-want +got):\n%s", diff)
	}
}

// TestNilProviders checks that nil providers mean the globals.
func TestNilProviders(t *testing.T) {
	s := New("example.com/pkg", nil, nil)
	if s.Meter == nil || s.Tracer == nil {
		t.Fatal("nil meter or tracer")
	}
	if err := s.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}
