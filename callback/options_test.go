package callback_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
)

// TestNewHandlerInvalidConfig checks that NewHandler reports every problem
// of a configuration in one error, one line each, each wrapping
// ErrInvalidConfig.
func TestNewHandlerInvalidConfig(t *testing.T) {
	svc := &fakeService{}
	const prefix = "callback: invalid configuration: "
	tests := []struct {
		name string
		opts []callback.Option
		want []string // the lines of the error
	}{
		{"max body bytes", []callback.Option{callback.WithInsecureNoAuth(), callback.WithMaxBodyBytes(-1)},
			[]string{prefix + "WithMaxBodyBytes: negative value -1"}},
		{"secret header", []callback.Option{callback.WithSecret("s"), callback.WithSecretHeader("X:Y")},
			[]string{prefix + `WithSecretHeader: invalid header name "X:Y"`}},
		{"route pattern", []callback.Option{callback.WithInsecureNoAuth(), callback.WithRoute(callback.Path("task", "tasks/{id}"), svc)},
			[]string{prefix + `WithRoute: route 0: Path("task", "tasks/{id}"): pattern must start with '/'`}},
		{"several at once", []callback.Option{
			callback.WithSecret(""), callback.WithMaxBodyBytes(-2), callback.WithAuthenticator(nil), callback.WithRoute(nil, svc),
		}, []string{
			prefix + "WithSecret: empty secret (use WithInsecureNoAuth to run without authentication)",
			prefix + "WithMaxBodyBytes: negative value -2",
			prefix + "WithAuthenticator: nil authenticator",
			prefix + "WithRoute: nil matcher",
			prefix + "no authentication configured: use WithSecret or WithAuthenticator, or WithInsecureNoAuth to accept unauthenticated callbacks",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := callback.NewHandler(tt.opts...)
			if err == nil {
				t.Fatalf("NewHandler = %v, want an error", h)
			}
			if !errors.Is(err, callback.ErrInvalidConfig) {
				t.Errorf("NewHandler: %v, want an error wrapping ErrInvalidConfig", err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}
