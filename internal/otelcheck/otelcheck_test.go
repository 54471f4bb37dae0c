package otelcheck

import (
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestOff(t *testing.T) {
	sdk := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = sdk.Shutdown(t.Context()) })
	if defaultGlobal == nil {
		t.Fatal("the default global tracer provider was not recognised")
	}
	tests := []struct {
		name string
		tp   trace.TracerProvider
		want bool
	}{
		{"global without SDK", nil, true},
		{"default global passed explicitly", otel.GetTracerProvider(), true},
		{"noop", noop.NewTracerProvider(), true},
		{"deprecated noop", trace.NewNoopTracerProvider(), true}, //lint:ignore SA1019 callers may still pass it
		{"SDK", sdk, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := For(tt.tp).Off(); got != tt.want {
				t.Errorf("For(%T).Off() = %v, want %v", tt.tp, got, tt.want)
			}
		})
	}
}

// TestOffFollowsGlobal checks that a Tracing of the global provider turns
// on once an SDK is installed. It changes the global provider, so it must
// run last and restores nothing: no other test of this package looks at
// the global provider afterwards.
func TestOffFollowsGlobal(t *testing.T) {
	tr := For(nil)
	if !tr.Off() {
		t.Fatal("Off() = false before any SDK is installed")
	}
	sdk := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = sdk.Shutdown(t.Context()) })
	otel.SetTracerProvider(sdk)
	if tr.Off() {
		t.Error("Off() = true after otel.SetTracerProvider(sdk)")
	}
}

func BenchmarkOffGlobal(b *testing.B) {
	tr := For(nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = tr.Off()
	}
}
