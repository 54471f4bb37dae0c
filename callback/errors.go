package callback

import (
	"fmt"
	"net/http"
)

// Rejection is a typed refusal of a callback: the handler answers with
// Status and a JSON body carrying Message. A [Service] (or an
// [Authenticator], or a [Matcher]) returns one, usually through [Reject],
// to refuse a browser with 401, 403, 404 and so on; it may be wrapped with
// %w. Status must be a 4xx code; any other status is treated as an
// internal error and answered 500.
//
// On a connect rejected with 400, 401 or 403, a generation-1 gateway
// answers the browser with that status and a generation-2 gateway sends a
// "rejected" event; other statuses reach the browser as that status. A
// rejected connect gets no disconnect callback.
type Rejection struct {
	// Status is the HTTP status of the answer, 400 to 499.
	Status int
	// Message is sent in the answer's body. Empty means the status text.
	Message string
}

// Error returns a description of the rejection.
func (r *Rejection) Error() string {
	return fmt.Sprintf("callback: rejected with status %d: %s", r.Status, r.message())
}

// valid reports whether r has a 4xx status.
func (r *Rejection) valid() bool { return r.Status >= 400 && r.Status <= 499 }

func (r *Rejection) message() string {
	if r.Message != "" {
		return r.Message
	}
	return http.StatusText(r.Status)
}

// Reject returns a [*Rejection] with the given status and message, for
// example Reject(http.StatusNotFound, "unknown task").
func Reject(status int, message string) error {
	return &Rejection{Status: status, Message: message}
}

// valueError is a matcher error about one extracted value: it is answered
// 400 with details naming the parameter and the problem.
type valueError struct {
	param  string
	reason string
}

func (e *valueError) Error() string {
	return fmt.Sprintf("callback: parameter %q %s", e.param, e.reason)
}

// panicError is a recovered panic of user code.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("callback: panic: %v", e.value) }
