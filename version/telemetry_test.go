package version_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/telemetry"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/version"
)

// collect returns every int64 data point as "name{k=v,...}" -> value.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != "github.com/ssegate/ssegate/version" || sm.Scope.Version != telemetry.Version {
			t.Errorf("scope %q %q, want the import path and %q", sm.Scope.Name, sm.Scope.Version, telemetry.Version)
		}
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s: unexpected data %T", m.Name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				var kv []string
				for _, a := range dp.Attributes.ToSlice() {
					kv = append(kv, string(a.Key)+"="+a.Value.String())
				}
				slices.Sort(kv)
				out[m.Name+"{"+strings.Join(kv, ",")+"}"] = dp.Value
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })

	conn := newFakeConn()
	n := newNotifier(t, conn, version.WithMeterProvider(mp), version.WithPendingLimit(2))
	for _, v := range []string{"1", "2", "3"} {
		notify(t, n, "secret-request-id", v)
	}
	connect(t, n, "secret-request-id", "tok1")
	notify(t, n, "secret-request-id", "4")
	connect(t, n, "other", "tok2")
	if _, err := n.Broadcast(context.Background(), version.Info{Version: "5"}); err != nil {
		t.Fatal(err)
	}

	want := map[string]int64{
		"ssegate.version.events{op=notify,status=pending}":      3,
		"ssegate.version.events{op=notify,status=delivered}":    1,
		"ssegate.version.events{op=broadcast,status=delivered}": 2,
		"ssegate.version.pending.dropped{reason=limit}":         1,
		"ssegate.version.pending{}":                             0,
		"ssegate.version.connects{sent=flushed}":                1,
		"ssegate.version.connects{sent=current}":                1,
	}
	got := collect(t, reader)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	for k := range got {
		if strings.Contains(k, "secret-request-id") {
			t.Errorf("metric %s carries a request id", k)
		}
	}
}

// recordingHandler is a slog.Handler that keeps every record.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// messages returns "LEVEL message k=v ..." for every record at or above
// level.
func (h *recordingHandler) messages(level slog.Level) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Level < level {
			continue
		}
		s := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			s += " " + a.Key + "=" + a.Value.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

func TestLogging(t *testing.T) {
	h := &recordingHandler{}
	src := version.SourceFunc(func(context.Context) (version.Info, error) {
		return version.Info{}, &version.StatusError{StatusCode: 503}
	})
	n, err := version.New(newFakeConn(), src, version.WithLogger(slog.New(h)), version.WithPendingLimit(1))
	if err != nil {
		t.Fatal(err)
	}
	notify(t, n, "r1", "1")
	notify(t, n, "r1", "2")
	connect(t, n, "r2", "tok")

	want := []string{
		"WARN version: pending events dropped request_id=r1 reason=limit events=1",
		"WARN version: source failed; sending unknown version request_id=r2 error=version: version.json answered status 503",
	}
	if diff := cmp.Diff(want, h.messages(slog.LevelWarn)); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
}

// spanConn is a fakeConn that records the span of the context of each
// Send and Broadcast.
type spanConn struct {
	*fakeConn
	mu      sync.Mutex
	parents []trace.SpanID
}

func (c *spanConn) Send(ctx context.Context, identifier string, ev sseconn.Event) error {
	c.mu.Lock()
	c.parents = append(c.parents, trace.SpanContextFromContext(ctx).SpanID())
	c.mu.Unlock()
	return c.fakeConn.Send(ctx, identifier, ev)
}

func (c *spanConn) Broadcast(ctx context.Context, filter func(string) bool, ev sseconn.Event) []sseconn.Result {
	c.mu.Lock()
	c.parents = append(c.parents, trace.SpanContextFromContext(ctx).SpanID())
	c.mu.Unlock()
	return c.fakeConn.Broadcast(ctx, filter, ev)
}

func TestSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	conn := &spanConn{fakeConn: newFakeConn()}
	n := newNotifier(t, conn, version.WithTracerProvider(tp))
	connect(t, n, "r1", "tok1")
	notify(t, n, "r1", "2")
	if _, err := n.Broadcast(context.Background(), version.Info{Version: "3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(context.Background(), "bad:id", version.Info{Version: "4"}); err == nil {
		t.Fatal("Notify with an invalid request id succeeded")
	}

	type span struct {
		Name   string
		Scope  string
		Attrs  map[string]string
		Status codes.Code
	}
	var got []span
	ids := map[trace.SpanID]string{}
	for _, s := range sr.Ended() {
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		sc := s.InstrumentationScope()
		got = append(got, span{s.Name(), sc.Name + " " + sc.Version, attrs, s.Status().Code})
		ids[s.SpanContext().SpanID()] = s.Name()
	}
	scope := "github.com/ssegate/ssegate/version " + telemetry.Version
	want := []span{
		{"version.connect", scope, map[string]string{"version.request_id": "r1", "version.sent": "current"}, codes.Unset},
		{"version.notify", scope, map[string]string{"version.request_id": "r1", "version.status": "delivered"}, codes.Unset},
		{"version.broadcast", scope, map[string]string{"version.deliveries": "1"}, codes.Unset},
		{"version.notify", scope, map[string]string{"version.request_id": "bad:id", "version.status": "dropped"}, codes.Error},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	// Each send is made in the context of the span of the call that made it.
	var parents []string
	conn.mu.Lock()
	for _, id := range conn.parents {
		parents = append(parents, ids[id])
	}
	conn.mu.Unlock()
	if diff := cmp.Diff([]string{"version.connect", "version.notify", "version.broadcast"}, parents); diff != "" {
		t.Errorf("spans of the sends (-want +got):\n%s", diff)
	}
}
