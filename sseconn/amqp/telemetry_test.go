package amqp_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/telemetry"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

const scope = "github.com/ssegate/ssegate/sseconn/amqp"

// counters returns the values of the named int64 sum by attribute set,
// each set written as "k=v,k=v" in key order.
func counters(t *testing.T, r *sdkmetric.ManualReader, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]int64)
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scope {
			continue
		}
		if sm.Scope.Version != telemetry.Version {
			t.Errorf("scope %s: version %q, want %q", scope, sm.Scope.Version, telemetry.Version)
		}
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is a %T, want an int64 sum", name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				out[attrString(dp.Attributes.ToSlice())] += dp.Value
			}
		}
	}
	return out
}

// histogramCounts returns the sample counts of the named histogram by
// attribute set.
func histogramCounts(t *testing.T, r *sdkmetric.ManualReader, name string) map[string]uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := make(map[string]uint64)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == name {
				for _, dp := range h.DataPoints {
					out[attrString(dp.Attributes.ToSlice())] += dp.Count
				}
			}
		}
	}
	return out
}

func attrString(kvs []attribute.KeyValue) string {
	parts := make([]string, 0, len(kvs))
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func TestTelemetry(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	p := e.dial(amqp.WithMeterProvider(mp), amqp.WithTracerProvider(tp), amqp.WithMandatory(true))
	reqID := e.id("tab")
	e.queue(reqID, nil, amqp.ConnectionKey(reqID))
	ctx := testCtx(t)
	ev := sseconn.Event{Name: "n", Data: `{}`}

	if err := p.PublishToConnection(ctx, reqID, ev); err != nil {
		t.Fatal(err)
	}
	if err := p.PublishToSubject(ctx, e.id("nobody"), ev); !errors.Is(err, amqp.ErrUnroutable) {
		t.Fatalf("error = %v, want ErrUnroutable", err)
	}
	if err := p.PublishToRole(ctx, "*", ev); !errors.Is(err, amqp.ErrInvalidKey) {
		t.Fatalf("error = %v, want ErrInvalidKey", err)
	}
	if err := p.Broadcast(ctx, sseconn.Event{Name: "ready"}); !errors.Is(err, sseconn.ErrInvalidEvent) {
		t.Fatalf("error = %v, want ErrInvalidEvent", err)
	}
	if err := p.Publish(ctx, "task."+reqID, ev); !errors.Is(err, amqp.ErrUnroutable) {
		t.Fatalf("error = %v, want ErrUnroutable", err)
	}
	p.Close()
	if err := p.Broadcast(ctx, ev); !errors.Is(err, amqp.ErrClosed) {
		t.Fatalf("error = %v, want ErrClosed", err)
	}

	wantCounts := map[string]int64{
		"outcome=ok,route=connection":      1,
		"outcome=unroutable,route=subject": 1,
		"outcome=invalid,route=role":       1,
		"outcome=invalid,route=broadcast":  1,
		"outcome=unroutable,route=other":   1,
		"outcome=closed,route=broadcast":   1,
	}
	if diff := cmp.Diff(wantCounts, counters(t, reader, "ssegate.amqp.publishes")); diff != "" {
		t.Errorf("ssegate.amqp.publishes (-want +got):\n%s", diff)
	}
	wantLatency := map[string]uint64{"route=connection": 1, "route=subject": 1, "route=other": 1}
	if diff := cmp.Diff(wantLatency, histogramCounts(t, reader, "ssegate.amqp.publish.duration")); diff != "" {
		t.Errorf("ssegate.amqp.publish.duration counts (-want +got):\n%s", diff)
	}

	type span struct {
		Name    string
		Kind    trace.SpanKind
		Status  codes.Code
		Route   string
		Outcome string
	}
	var got []span
	for _, s := range spans.Ended() {
		sp := span{Name: s.Name(), Kind: s.SpanKind(), Status: s.Status().Code}
		for _, kv := range s.Attributes() {
			switch kv.Key {
			case "ssegate.route":
				sp.Route = kv.Value.AsString()
			case "ssegate.outcome":
				sp.Outcome = kv.Value.AsString()
			}
			// No attribute carries an identifier.
			if strings.Contains(kv.Value.String(), reqID) || strings.Contains(kv.Value.String(), "nobody") {
				t.Errorf("span attribute %s = %q reveals an identifier", kv.Key, kv.Value.String())
			}
		}
		if strings.Contains(s.Status().Description, reqID) {
			t.Errorf("span status %q reveals an identifier", s.Status().Description)
		}
		got = append(got, sp)
	}
	name := "publish " + e.exchange
	want := []span{
		{name, trace.SpanKindProducer, codes.Unset, "connection", "ok"},
		{name, trace.SpanKindProducer, codes.Error, "subject", "unroutable"},
		{name, trace.SpanKindProducer, codes.Error, "role", "invalid"},
		{name, trace.SpanKindProducer, codes.Error, "broadcast", "invalid"},
		{name, trace.SpanKindProducer, codes.Error, "other", "unroutable"},
		{name, trace.SpanKindProducer, codes.Error, "broadcast", "closed"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

func TestConnectionTelemetry(t *testing.T) {
	e := newEnv(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	px, u := newProxy(t, e.url)
	st := newStates()
	p := e.dialURL(u, amqp.WithMeterProvider(mp), amqp.WithStateHook(st.hook),
		amqp.WithBackoff(time.Millisecond, 10*time.Millisecond))

	px.Cut()
	st.wait(t, false)
	// Let the supervisor fail a few times against the cut link.
	eventually(t, "two failed reconnects", func() bool {
		return counters(t, reader, "ssegate.amqp.reconnects")["outcome=error"] >= 2
	})
	px.Restore()
	st.wait(t, true)
	if err := p.Broadcast(testCtx(t), sseconn.Event{Data: "x"}); err != nil {
		t.Fatalf("publish after reconnecting: %v", err)
	}
	p.Close()

	if diff := cmp.Diff(map[string]int64{"": 1}, counters(t, reader, "ssegate.amqp.connection.losses")); diff != "" {
		t.Errorf("ssegate.amqp.connection.losses (-want +got):\n%s", diff)
	}
	reconnects := counters(t, reader, "ssegate.amqp.reconnects")
	if reconnects["outcome=ok"] != 1 || reconnects["outcome=error"] < 2 ||
		!slices.Equal(sortedKeys(reconnects), []string{"outcome=error", "outcome=ok"}) {
		t.Errorf("ssegate.amqp.reconnects = %v, want 1 ok and at least 2 errors", reconnects)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
