package gatewaytest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TestZeroOptions checks that zero and nil options mean the defaults.
func TestZeroOptions(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL(),
		nil,
		gatewaytest.WithGeneration(0),
		gatewaytest.WithCallbackTimeout(0),
		gatewaytest.WithHeartbeat(0),
		gatewaytest.WithMaxBodyBytes(0),
		gatewaytest.WithLogger(nil),
		gatewaytest.WithCORS(""),
	)
	st := openStream(t, gw, gatewaytest.DefaultGeneration, "/x") // reads "ready"
	if got := st.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin = %q without CORS", got)
	}
	prefix := `{"token":"` + st.Token() + `","event":{"data":"`
	body := prefix + strings.Repeat("x", gatewaytest.DefaultMaxBodyBytes+1-len(prefix)-3) + `"}}`
	if got := send(t, gw, body); got.Status != 413 {
		t.Errorf("send of %d bytes: status %d, want 413", len(body), got.Status)
	}
	gw.DropStream("unknown") // no effect on tokens that are not live
	sendOK(t, gw, st.Token(), nil, false)
}

// TestInvalidOptionsPanic checks that NewServer panics, before it listens,
// with one error that wraps ErrInvalidConfig and names every impossible
// option.
func TestInvalidOptionsPanic(t *testing.T) {
	const prefix = "gatewaytest: invalid configuration: "
	tests := []struct {
		name string
		opts []gatewaytest.Option
		want []string // the lines of the error
	}{
		{"generation", []gatewaytest.Option{gatewaytest.WithGeneration(3)}, []string{prefix + "WithGeneration: generation 3, want 1 or 2"}},
		{"negative generation", []gatewaytest.Option{gatewaytest.WithGeneration(-1)}, []string{prefix + "WithGeneration: generation -1, want 1 or 2"}},
		{"callback timeout", []gatewaytest.Option{gatewaytest.WithCallbackTimeout(-time.Second)}, []string{prefix + "WithCallbackTimeout: negative value -1s"}},
		{"heartbeat", []gatewaytest.Option{gatewaytest.WithHeartbeat(-1)}, []string{prefix + "WithHeartbeat: negative value -1ns"}},
		{"max body bytes", []gatewaytest.Option{gatewaytest.WithMaxBodyBytes(-1)}, []string{prefix + "WithMaxBodyBytes: negative value -1"}},
		{"several at once", []gatewaytest.Option{gatewaytest.WithGeneration(9), gatewaytest.WithHeartbeat(-time.Second), gatewaytest.WithMaxBodyBytes(-5)}, []string{
			prefix + "WithGeneration: generation 9, want 1 or 2",
			prefix + "WithHeartbeat: negative value -1s",
			prefix + "WithMaxBodyBytes: negative value -5",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				err, ok := recover().(error)
				if !ok {
					t.Fatalf("NewServer did not panic with an error")
				}
				if !errors.Is(err, gatewaytest.ErrInvalidConfig) {
					t.Errorf("panic %v, want an error wrapping ErrInvalidConfig", err)
				}
				if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
					t.Errorf("error lines (-want +got):\n%s", diff)
				}
			}()
			gw := gatewaytest.NewServer("http://127.0.0.1:1/callback", tt.opts...)
			gw.Close()
		})
	}
}
