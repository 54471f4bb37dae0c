package amqp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/sseconn/amqp"
)

// TestDialInvalidConfig checks that Dial refuses every misconfiguration
// before any I/O, with one error that wraps ErrInvalidConfig and names each
// problem. It needs no broker: the URL points at nothing.
func TestDialInvalidConfig(t *testing.T) {
	const prefix = "amqp: invalid configuration: "
	const url = "amqp://guest:guest@127.0.0.1:1/"
	tests := []struct {
		name string
		url  string
		opts []amqp.Option
		want []string // the lines of the error
	}{
		{"url", "http://u:secret@broker/", nil, []string{
			prefix + "invalid broker URL: AMQP scheme must be either 'amqp://' or 'amqps://'"}},
		{"send timeout", url, []amqp.Option{amqp.WithSendTimeout(-time.Second)}, []string{
			prefix + "WithSendTimeout: negative value -1s"}},
		{"dial timeout", url, []amqp.Option{amqp.WithDialTimeout(-1)}, []string{
			prefix + "WithDialTimeout: negative value -1ns"}},
		{"negative backoff", url, []amqp.Option{amqp.WithBackoff(-time.Second, 0)}, []string{
			prefix + "WithBackoff: negative value -1s"}},
		{"max below min", url, []amqp.Option{amqp.WithBackoff(time.Second, time.Millisecond)}, []string{
			prefix + "WithBackoff: max 1ms below min 1s"}},
		{"max below the default min", url, []amqp.Option{amqp.WithBackoff(0, time.Millisecond)}, []string{
			prefix + "WithBackoff: max 1ms below min 250ms"}},
		{"several at once", "amqp://u:secret%zz@broker/", []amqp.Option{
			amqp.WithSendTimeout(-1), amqp.WithDialTimeout(-2), amqp.WithBackoff(0, -3),
		}, []string{
			prefix + "invalid broker URL (is a reserved character in the user name or password not percent-encoded?)",
			prefix + "WithSendTimeout: negative value -1ns",
			prefix + "WithDialTimeout: negative value -2ns",
			prefix + "WithBackoff: negative value -3ns",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := amqp.Dial(ctx, tt.url, tt.opts...)
			if err == nil {
				p.Close()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, amqp.ErrInvalidConfig) {
				t.Errorf("Dial: %v, want an error wrapping ErrInvalidConfig", err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}
