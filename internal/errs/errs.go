// Package errs wraps the module's errors so that each carries its package
// prefix once, as the standard library's do: "sseconn: send task: not
// connected", not "sseconn: send task: sseconn: not connected".
//
// Sentinel errors keep their prefix ("sseconn: not connected"), so that
// one returned as it is still says where it comes from; a wrapper made
// here drops the wrapped error's prefix when it is the wrapper's own.
package errs

import (
	"fmt"
	"strings"
)

// Wrapf returns an error whose message is "<pkg>: <what>: <err>", where
// what is format formatted with args and err's message loses a leading
// "<pkg>: ". The error unwraps to err, so [errors.Is] and [errors.As] see
// through it. err must not be nil.
func Wrapf(pkg string, err error, format string, args ...any) error {
	inner := strings.TrimPrefix(err.Error(), pkg+": ")
	return &wrapped{msg: pkg + ": " + fmt.Sprintf(format, args...) + ": " + inner, err: err}
}

// wrapped is an error with a message of its own that unwraps to err.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }
