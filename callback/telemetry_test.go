package callback_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/telemetry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	browserTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	browserSpanID  = "00f067aa0ba902b7"
	traceparent    = "00-" + browserTraceID + "-" + browserSpanID + "-01"
)

// telemetryHandler returns a handler recording into a span recorder and a
// manual reader.
func telemetryHandler(t *testing.T, svc callback.Service) (*callback.Handler, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	h := newHandler(t, callback.WithSecret(testSecret),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc),
		callback.WithTracerProvider(tp), callback.WithMeterProvider(mp))
	return h, sr, reader
}

func TestSpanJoinsBrowserTrace(t *testing.T) {
	var serviceTrace string
	svc := &fakeService{connect: func(ctx context.Context, _ *callback.Request) (*callback.ConnectResponse, error) {
		serviceTrace = trace.SpanContextFromContext(ctx).TraceID().String()
		return nil, nil
	}}
	h, sr, _ := telemetryHandler(t, svc)
	body := connectBody(t, "tok", "/api/sse/tasks/42", map[string]any{
		"traceparent": traceparent, "tracestate": "congo=t61rcWkgMzE", "cookie": "session=x",
	})
	if got := post(t, h, body); got.Status != 200 {
		t.Fatalf("status = %d, want 200", got.Status)
	}
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	type spanSummary struct {
		Name, TraceID, ParentSpanID, TraceState string
		Remote                                  bool
		Kind                                    trace.SpanKind
		Status                                  codes.Code
		Attrs                                   map[string]string
	}
	got := spanSummary{
		Name: s.Name(), TraceID: s.SpanContext().TraceID().String(), ParentSpanID: s.Parent().SpanID().String(),
		TraceState: s.SpanContext().TraceState().String(), Remote: s.Parent().IsRemote(), Kind: s.SpanKind(),
		Status: s.Status().Code, Attrs: attrMap(s.Attributes()),
	}
	want := spanSummary{
		Name: "callback.connect", TraceID: browserTraceID, ParentSpanID: browserSpanID, TraceState: "congo=t61rcWkgMzE",
		Remote: true, Kind: trace.SpanKindServer, Status: codes.Unset,
		Attrs: map[string]string{
			"ssegate.callback.action":   "connect",
			"ssegate.callback.outcome":  "accepted",
			"ssegate.identifier":        "task:42",
			"ssegate.identifier.kind":   "task",
			"url.path":                  "/api/sse/tasks/42",
			"http.response.status_code": "200",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("span mismatch (-want +got):\n%s", diff)
	}
	if serviceTrace != browserTraceID {
		t.Errorf("service context trace ID = %s, want %s", serviceTrace, browserTraceID)
	}
}

// A span already in the request context (for example from HTTP middleware)
// is the parent without a forwarded traceparent, and a link with one.
func TestSpanParentAndLink(t *testing.T) {
	local := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	tests := []struct {
		name       string
		headers    map[string]any
		wantTrace  string
		wantLinks  []string
		wantAction string
	}{
		{name: "no traceparent", headers: nil, wantTrace: local.TraceID().String(), wantAction: "callback.disconnect"},
		{name: "invalid traceparent", headers: map[string]any{"traceparent": "00-zz-yy-01"}, wantTrace: local.TraceID().String(), wantAction: "callback.disconnect"},
		{name: "traceparent", headers: map[string]any{"traceparent": traceparent}, wantTrace: browserTraceID,
			wantLinks: []string{local.TraceID().String()}, wantAction: "callback.disconnect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, sr, _ := telemetryHandler(t, &fakeService{})
			body := callbackBody(t, map[string]any{"action": "disconnect", "token": "t", "reason": "client_closed",
				"request": map[string]any{"url": "/api/sse/tasks/1", "headers": tt.headers}})
			ctx := trace.ContextWithSpanContext(t.Context(), local)
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, callbackPath, strings.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("status = %d", rec.Code)
			}
			spans := sr.Ended()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			var links []string
			for _, l := range spans[0].Links() {
				links = append(links, l.SpanContext.TraceID().String())
			}
			got := []any{spans[0].Name(), spans[0].SpanContext().TraceID().String(), links}
			want := []any{tt.wantAction, tt.wantTrace, tt.wantLinks}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("span mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSpanErrorStatus(t *testing.T) {
	svc := &fakeService{connect: reject(errors.New("db down"))}
	h, sr, _ := telemetryHandler(t, svc)
	if got := post(t, h, connectBody(t, "tok", "/api/sse/tasks/1", nil)); got.Status != 500 {
		t.Fatalf("status = %d, want 500", got.Status)
	}
	spans := sr.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	var events []string
	for _, e := range spans[0].Events() {
		events = append(events, e.Name)
	}
	got := []any{spans[0].Status().Code, attrMap(spans[0].Attributes())["ssegate.callback.outcome"], events}
	want := []any{codes.Error, "error", []string{"exception"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("span mismatch (-want +got):\n%s", diff)
	}
}

func TestMetrics(t *testing.T) {
	svc := &fakeService{connect: func(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
		if req.Token == "reject" {
			return nil, callback.Reject(http.StatusNotFound, "unknown")
		}
		return nil, nil
	}}
	h, sr, reader := telemetryHandler(t, svc)
	for _, r := range []struct{ target, method, body string }{
		{callbackPath, http.MethodPost, connectBody(t, "ok1", "/api/sse/tasks/1", nil)},
		{callbackPath, http.MethodPost, connectBody(t, "ok2", "/api/sse/tasks/2", nil)},
		{callbackPath, http.MethodPost, connectBody(t, "reject", "/api/sse/tasks/3", nil)},
		{callbackPath, http.MethodPost, disconnectBody(t, "ok1", "client_closed", "/api/sse/tasks/1")},
		{callbackPath, http.MethodPost, connectBody(t, "x", "/api/sse/nope", nil)},
		{callbackPath, http.MethodPost, disconnectBody(t, "x", "client_closed", "/api/sse/nope")},
		{callbackPath, http.MethodPost, `{"action":"evil-high-cardinality-value","token":"t","request":{"url":"/x"}}`},
		{"/cb?secret=wrong", http.MethodPost, connectBody(t, "x", "/api/sse/tasks/1", nil)},
		{callbackPath, http.MethodGet, ""},
	} {
		serve(t, h, r.method, r.target, nil, r.body)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	var histCount uint64
	var scopes []string
	for _, sm := range rm.ScopeMetrics {
		scopes = append(scopes, sm.Scope.Name+" "+sm.Scope.Version)
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if m.Name != "ssegate.callback.requests" {
					continue
				}
				for _, dp := range d.DataPoints {
					a := attrMap(dp.Attributes.ToSlice())
					counts[a["action"]+"/"+a["outcome"]+"/"+a["kind"]] += dp.Value
				}
			case metricdata.Histogram[float64]:
				if m.Name != "ssegate.callback.duration" || m.Unit != "s" {
					continue
				}
				for _, dp := range d.DataPoints {
					histCount += dp.Count
				}
			}
		}
	}
	wantCounts := map[string]int64{
		"connect/accepted/task":              2,
		"connect/rejected/task":              1,
		"disconnect/accepted/task":           1,
		"connect/unmatched/unknown":          1,
		"disconnect/unmatched/unknown":       1,
		"unknown/invalid/unknown":            1,
		"unknown/unauthorized/unknown":       1,
		"unknown/method_not_allowed/unknown": 1,
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("ssegate.callback.requests mismatch (-want +got):\n%s", diff)
	}
	if histCount != 9 {
		t.Errorf("ssegate.callback.duration count = %d, want 9", histCount)
	}
	for _, sp := range sr.Ended() {
		s := sp.InstrumentationScope()
		scopes = append(scopes, s.Name+" "+s.Version)
	}
	scopes = slices.Compact(scopes)
	if diff := cmp.Diff([]string{"github.com/ssegate/ssegate/callback " + telemetry.Version}, scopes); diff != "" {
		t.Errorf("scopes mismatch (-want +got):\n%s", diff)
	}
	// One span per decoded callback.
	var names []string
	for _, s := range sr.Ended() {
		names = append(names, s.Name())
	}
	sort.Strings(names)
	wantNames := []string{"callback.connect", "callback.connect", "callback.connect", "callback.connect", "callback.disconnect", "callback.disconnect"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("span names mismatch (-want +got):\n%s", diff)
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}
