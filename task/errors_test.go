package task

import (
	"context"
	"errors"
	"testing"
)

// TestErrorMessages checks the exact text of wrapped errors: what was
// attempted, and the package prefix once.
func TestErrorMessages(t *testing.T) {
	r, err := New(newFakeConn())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	_, waitErr := r.Wait(t.Context(), "nope")
	tests := []struct {
		name   string
		err    error
		target error
		want   string
	}{
		{"wait for an unknown task", waitErr, ErrNotFound, `task: wait for task "nope": not found`},
		{"cancel an unknown task", r.Cancel("nope"), ErrNotFound, `task: cancel task "nope": not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("got no error")
			}
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q\nwant      %q", got, tt.want)
			}
			if !errors.Is(tt.err, tt.target) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.target)
			}
		})
	}
}
