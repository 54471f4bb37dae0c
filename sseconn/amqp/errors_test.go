package amqp

import (
	"errors"
	"testing"

	"github.com/ssegate/ssegate/bus"
)

// TestBusErrorsReadOnce checks that a Bus error names each thing once and
// still matches every sentinel it stands for.
func TestBusErrorsReadOnce(t *testing.T) {
	cause := errors.New("Exception (504) Reason: \"channel/connection is not open\"")
	tests := []struct {
		err       error
		want      string
		sentinels []error
	}{
		{opErr("publish", notConnectedText, nil, bus.ErrNotConnected, ErrNotConnected),
			"amqp: publish: not connected to the broker", []error{bus.ErrNotConnected, ErrNotConnected}},
		{opErr("bind", notConnectedText, cause, bus.ErrNotConnected),
			"amqp: bind: not connected to the broker: " + cause.Error(), []error{bus.ErrNotConnected, cause}},
		{opErr("request", "message not confirmed by the broker", errConnectionLost, ErrUnconfirmed, bus.ErrNotConnected),
			"amqp: request: message not confirmed by the broker: connection lost before the confirm",
			[]error{ErrUnconfirmed, bus.ErrNotConnected, errConnectionLost}},
		{opErr("request", "no replica bound the routing key", nil, bus.ErrNoRoute, ErrUnroutable),
			"amqp: request: no replica bound the routing key", []error{bus.ErrNoRoute, ErrUnroutable}},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		for _, s := range tt.sentinels {
			if !errors.Is(tt.err, s) {
				t.Errorf("%q does not match %v", tt.err, s)
			}
		}
	}
}
