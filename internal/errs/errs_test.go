package errs

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

type codeError struct{ code int }

func (e *codeError) Error() string { return fmt.Sprintf("pkg: code %d", e.code) }

func TestWrapf(t *testing.T) {
	errNotFound := errors.New("pkg: not found")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"own sentinel loses its prefix", Wrapf("pkg", errNotFound, "get %s", "user"), "pkg: get user: not found"},
		{"foreign error keeps its own", Wrapf("pkg", io.ErrUnexpectedEOF, "read"), "pkg: read: unexpected EOF"},
		{"other package's prefix stays", Wrapf("task", errNotFound, "connect"), "task: connect: pkg: not found"},
		{"wrapped twice", Wrapf("pkg", Wrapf("pkg", errNotFound, "inner"), "outer"), "pkg: outer: inner: not found"},
		{"joined with %w", Wrapf("pkg", fmt.Errorf("%w: %w", errNotFound, io.EOF), "publish"), "pkg: publish: not found: EOF"},
		{"typed error", Wrapf("pkg", &codeError{500}, "send"), "pkg: send: code 500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	if err := Wrapf("pkg", errNotFound, "get"); !errors.Is(err, errNotFound) {
		t.Errorf("errors.Is(%v, errNotFound) = false", err)
	}
	var ce *codeError
	if err := Wrapf("pkg", &codeError{500}, "send"); !errors.As(err, &ce) || ce.code != 500 {
		t.Errorf("errors.As(%v) = %v, want the *codeError", err, ce)
	}
}
