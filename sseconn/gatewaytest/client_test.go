package gatewaytest_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

func TestEventUnwrap(t *testing.T) {
	tests := []struct {
		name string
		in   gatewaytest.Event
		want gatewaytest.Event
	}{
		{"envelope", gatewaytest.Event{Data: `{"type":"task_event","payload":{"progress":0.5}}`}, gatewaytest.Event{Name: "task_event", Data: `{"progress":0.5}`}},
		{"payload kept as written", gatewaytest.Event{Data: "{\"type\":\"t\",\"payload\":{\n\"a\": [1, 2]\n}}"}, gatewaytest.Event{Name: "t", Data: "{\n\"a\": [1, 2]\n}"}},
		{"string payload", gatewaytest.Event{Data: `{"type":"t","payload":"s"}`}, gatewaytest.Event{Name: "t", Data: `"s"`}},
		{"keys in any order", gatewaytest.Event{Data: `{"payload":null,"type":"t"}`}, gatewaytest.Event{Name: "t", Data: `null`}},
		{"named event unchanged", gatewaytest.Event{Name: "task_event", Data: `{"type":"x","payload":1}`}, gatewaytest.Event{Name: "task_event", Data: `{"type":"x","payload":1}`}},
		{"ready unchanged", gatewaytest.Event{Name: "ready"}, gatewaytest.Event{Name: "ready"}},
		{"plain data unchanged", gatewaytest.Event{Data: "hello"}, gatewaytest.Event{Data: "hello"}},
		{"broken JSON unchanged", gatewaytest.Event{Data: `{"type":"t","payload":not json}`}, gatewaytest.Event{Data: `{"type":"t","payload":not json}`}},
		{"extra key unchanged", gatewaytest.Event{Data: `{"type":"t","payload":1,"x":2}`}, gatewaytest.Event{Data: `{"type":"t","payload":1,"x":2}`}},
		{"no payload unchanged", gatewaytest.Event{Data: `{"type":"t","x":2}`}, gatewaytest.Event{Data: `{"type":"t","x":2}`}},
		{"type not a string unchanged", gatewaytest.Event{Data: `{"type":1,"payload":2}`}, gatewaytest.Event{Data: `{"type":1,"payload":2}`}},
		{"empty type unchanged", gatewaytest.Event{Data: `{"type":"","payload":2}`}, gatewaytest.Event{Data: `{"type":"","payload":2}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.in.Unwrap()); diff != "" {
				t.Errorf("Unwrap (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStreamNext checks Next's deadline, concurrent readers, and Next after
// Close.
func TestStreamNext(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")

	ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Millisecond)
	defer cancel()
	if _, err := st.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next with nothing to read = %v, want DeadlineExceeded", err)
	}

	// Two readers share the events: each event goes to exactly one.
	got := make(chan gatewaytest.Event, 2)
	for range 2 {
		go func() {
			ev, err := st.Next(context.Background())
			if err != nil {
				ev.Data = err.Error()
			}
			got <- ev
		}()
	}
	sendOK(t, gw, st.Token(), &wire.Event{Data: "1"}, false)
	sendOK(t, gw, st.Token(), &wire.Event{Data: "2"}, false)
	seen := map[string]bool{(<-got).Data: true, (<-got).Data: true}
	if diff := cmp.Diff(map[string]bool{"1": true, "2": true}, seen); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	st.Close()
	st.Close() // idempotent
	if _, err := st.Next(testCtx(t)); err != io.EOF {
		t.Errorf("Next after Close = %v, want io.EOF", err)
	}
	if d := next(t, b.disconnects, "disconnect"); d.cb.Reason != wire.ReasonClientClosed {
		t.Errorf("disconnect reason %q, want client_closed", d.cb.Reason)
	}
}

// TestConnectBadPath checks Connect's path check.
func TestConnectBadPath(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	if _, err := gw.Connect(testCtx(t), "api/sse", nil); err == nil {
		t.Error("Connect with a relative path: no error")
	}
}
