package sseconn

import (
	"context"
	"errors"
	"testing"

	"github.com/ssegate/ssegate/internal/wire"
)

// TestErrorMessages checks the exact text of wrapped errors: what was
// attempted, the identifier's kind, and the package prefix once.
func TestErrorMessages(t *testing.T) {
	g := newFakeGateway(t, func(req wire.SendRequest) answer {
		switch req.Token {
		case "gone":
			return answerGone
		case "broken":
			return answer{500, "application/json", `{"error":{"message":"Failed to write to stream","code":"WRITE_FAILED"}}`}
		}
		return answerOK
	})
	m := newTestManager(t, g.URL)
	mustRegister(t, m, "task:gone", "gone")
	mustRegister(t, m, "task:broken", "broken")
	ctx := context.Background()

	tests := []struct {
		name   string
		err    error
		target error
		want   string
	}{
		{"send unregistered", m.Send(ctx, "task:1", Event{Data: "x"}), ErrNotConnected,
			"sseconn: send task: not connected"},
		{"close unregistered", m.Close(ctx, "version:1"), ErrNotConnected,
			"sseconn: close version: not connected"},
		{"send gone", m.Send(ctx, "task:gone", Event{Data: "x"}), ErrGone,
			"sseconn: send task: connection gone"},
		{"send and close to a gateway error", m.SendAndClose(ctx, "task:broken", Event{Data: "x"}), nil,
			"sseconn: send_close task: gateway answered 500 WRITE_FAILED: Failed to write to stream"},
		{"invalid event", m.Send(ctx, "task:1", Event{Name: "a\nb", Data: "{}"}), ErrInvalidEvent,
			`sseconn: invalid event: name "a\nb" contains CR or LF`},
		{"register empty token", m.Register(ctx, "task:1", ""), ErrInvalidIdentifier,
			"sseconn: register task: invalid identifier or token"},
		{"register a token in use", m.Register(ctx, "task:2", "broken"), ErrTokenInUse,
			"sseconn: register task: token registered under another identifier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("got no error")
			}
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q\nwant      %q", got, tt.want)
			}
			if tt.target != nil && !errors.Is(tt.err, tt.target) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.target)
			}
		})
	}

	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err, want := m.Register(ctx, "task:3", "t3"), "sseconn: register task: manager shut down"; err == nil || err.Error() != want {
		t.Errorf("Register after Shutdown = %v, want %q", err, want)
	}
	if err, want := m.Send(ctx, "task:3", Event{Data: "x"}), "sseconn: send task: manager shut down"; err == nil || err.Error() != want {
		t.Errorf("Send after Shutdown = %v, want %q", err, want)
	}
}
