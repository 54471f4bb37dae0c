package sseconn

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ssegate/ssegate/internal/wire"
)

// collect reads every data point of the named instrument, as
// attribute-set string -> value.
func collect(t *testing.T, r *sdkmetric.ManualReader, name string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scope {
			t.Errorf("instrument scope = %q, want %q", sm.Scope.Name, scope)
		}
		for _, md := range sm.Metrics {
			if md.Name != name {
				continue
			}
			if sum, ok := md.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range sum.DataPoints {
					out[attrString(dp.Attributes)] += dp.Value
				}
			}
		}
	}
	return out
}

func attrString(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestRandomizedWorkload runs connects, replacements, disconnects and sends
// from many goroutines against a gateway that sometimes answers 404, then
// checks that the forward and reverse maps mirror each other and that the
// active-connections metric equals the number of live mappings.
func TestRandomizedWorkload(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if strings.HasSuffix(r.Token, "7") && r.Event != nil {
			return answerGone
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithMeterProvider(mp))

	const workers, ops = 8, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var mine []string
			for i := range ops {
				kind := []string{"task", "version"}[rng.IntN(2)]
				id := fmt.Sprintf("%s:%d", kind, rng.IntN(10))
				switch op := rng.IntN(10); {
				case op < 4:
					tok := fmt.Sprintf("w%d-%d", w, i)
					if err := m.Register(context.Background(), id, tok); err != nil {
						t.Errorf("Register: %v", err)
					}
					mine = append(mine, tok)
				case op < 6 && len(mine) > 0:
					m.Unregister(mine[rng.IntN(len(mine))])
				case op < 8:
					_ = m.Send(context.Background(), id, Event{Data: "x"})
				default:
					_ = m.Close(context.Background(), id)
				}
			}
		}()
	}
	wg.Wait()

	checkMirror(t, m)
	active := collect(t, reader, "ssegate.connections.active")
	if got, want := sum(active), int64(m.Len()); got != want {
		t.Errorf("ssegate.connections.active = %d, want the number of live mappings %d", got, want)
	}
	perKind := map[string]int64{}
	for _, id := range m.Identifiers(nil) {
		perKind["kind="+Kind(id)]++
	}
	for k, v := range active {
		if v != perKind[k] {
			t.Errorf("active{%s} = %d, want %d", k, v, perKind[k])
		}
	}
	connects := sum(collect(t, reader, "ssegate.connections.connects"))
	replacements := sum(collect(t, reader, "ssegate.connections.replacements"))
	disconnects := sum(collect(t, reader, "ssegate.connections.disconnects"))
	if got := connects - replacements - disconnects; got != int64(m.Len()) {
		t.Errorf("connects %d - replacements %d - disconnects %d = %d, want %d",
			connects, replacements, disconnects, got, m.Len())
	}
}

func TestTelemetryRecordsSends(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		switch r.Token {
		case "gone":
			return answerGone
		case "buf":
			return answerBuffered
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithMeterProvider(mp), WithTracerProvider(tp))
	mustRegister(t, m, "task:secret-id-1", "ok")
	mustRegister(t, m, "task:secret-id-2", "gone")
	mustRegister(t, m, "version:secret-id-3", "buf")
	ctx := context.Background()
	_ = m.Send(ctx, "task:secret-id-1", Event{Data: "x"})
	_ = m.Send(ctx, "task:secret-id-2", Event{Data: "x"})
	_ = m.Send(ctx, "version:secret-id-3", Event{Data: "x"})
	_ = m.Send(ctx, "task:nobody", Event{Data: "x"})
	_ = m.Send(ctx, "task:secret-id-1", Event{Name: "n", Data: "{"})
	_ = m.Close(ctx, "task:secret-id-1")

	want := map[string]int64{
		"kind=task,op=send,outcome=ok":            1,
		"kind=task,op=send,outcome=gone":          1,
		"kind=version,op=send,outcome=buffered":   1,
		"kind=task,op=send,outcome=not_connected": 1,
		"kind=task,op=send,outcome=invalid":       1,
		"kind=task,op=close,outcome=ok":           1,
	}
	if diff := cmp.Diff(want, collect(t, reader, "ssegate.events")); diff != "" {
		t.Errorf("ssegate.events (-want +got):\n%s", diff)
	}
	wantDisc := map[string]int64{"kind=task,reason=gone": 1}
	if diff := cmp.Diff(wantDisc, collect(t, reader, "ssegate.connections.disconnects")); diff != "" {
		t.Errorf("ssegate.connections.disconnects (-want +got):\n%s", diff)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	var histCount uint64
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			for _, attrs := range allAttributes(md) {
				if strings.Contains(attrs, "secret-id") {
					t.Errorf("%s carries a full identifier: %s", md.Name, attrs)
				}
			}
			if h, ok := md.Data.(metricdata.Histogram[float64]); ok && md.Name == "ssegate.send.duration" {
				for _, dp := range h.DataPoints {
					histCount += dp.Count
				}
			}
		}
	}
	// Sends that passed validation are timed: 4 sends and the close.
	if histCount != 5 {
		t.Errorf("ssegate.send.duration count = %d, want 5", histCount)
	}

	var names []string
	for _, s := range sr.Ended() {
		names = append(names, s.Name())
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "secret-id") {
				t.Errorf("span %s carries a full identifier: %v", s.Name(), kv)
			}
		}
	}
	wantSpans := []string{"sseconn.send", "sseconn.send", "sseconn.send", "sseconn.send", "sseconn.close"}
	if diff := cmp.Diff(wantSpans, names); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

func allAttributes(md metricdata.Metrics) []string {
	var out []string
	switch d := md.Data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, attrString(dp.Attributes))
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, attrString(dp.Attributes))
		}
	}
	return out
}

// The connection counters follow each kind of change: connects count every
// registration, replacements the ones that replaced a token, disconnects
// every removal of a live mapping by reason, and the active connections
// equal the live mappings per kind.
func TestTelemetryConnectionCounters(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	g := newFakeGateway(t, func(r wire.SendRequest) answer {
		if r.Token == "c" || r.Token == "d" {
			return answerGone
		}
		return answerOK
	})
	m := newTestManager(t, g.URL, WithMeterProvider(mp))
	ctx := context.Background()

	mustRegister(t, m, "task:1", "a")
	mustRegister(t, m, "task:1", "b") // replaces a
	mustRegister(t, m, "task:1", "b") // no-op
	mustRegister(t, m, "version:1", "v")
	if m.Unregister("a") {
		t.Error("Unregister of the replaced token = true")
	}
	if !m.Unregister("b") {
		t.Error("Unregister of the live token = false")
	}
	mustRegister(t, m, "task:2", "c")
	if err := m.Send(ctx, "task:2", Event{Data: "x"}); !errors.Is(err, ErrGone) {
		t.Fatalf("Send = %v, want ErrGone", err)
	}
	mustRegister(t, m, "task:3", "d")
	if removed, err := m.Sweep(ctx); err != nil || !slices.Equal(removed, []string{"task:3"}) {
		t.Fatalf("Sweep = %v, %v; want [task:3], nil", removed, err)
	}

	tests := []struct {
		name string
		want map[string]int64
	}{
		{"ssegate.connections.connects", map[string]int64{"kind=task": 4, "kind=version": 1}},
		{"ssegate.connections.replacements", map[string]int64{"kind=task": 1}},
		{"ssegate.connections.disconnects", map[string]int64{
			"kind=task,reason=unregister": 1, "kind=task,reason=gone": 1, "kind=task,reason=sweep": 1,
		}},
		{"ssegate.connections.active", map[string]int64{"kind=task": 0, "kind=version": 1}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, collect(t, reader, tt.name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if m.Len() != 1 {
		t.Errorf("Len = %d, want 1", m.Len())
	}
}
