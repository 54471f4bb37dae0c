package sseconn

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with [errors.Is]; the errors returned by the
// [Manager] wrap them with what was attempted.
var (
	// ErrNotConnected reports that no stream is registered for the identifier.
	// Nothing was sent.
	ErrNotConnected = errors.New("sseconn: not connected")

	// ErrGone reports that the gateway answered 404 TOKEN_NOT_FOUND: the
	// stream is gone. The mapping was removed if it still held the token that
	// was used.
	ErrGone = errors.New("sseconn: connection gone")

	// ErrShutdown reports that the manager has been shut down.
	ErrShutdown = errors.New("sseconn: manager shut down")

	// ErrInvalidEvent reports an event that the gateway would mangle (see
	// [Event.Validate] for the exact rule): a name with a control character,
	// a quote or a backslash, a reserved name, data with a CR, or a named
	// event whose data is not one line of JSON. Nothing was sent.
	ErrInvalidEvent = errors.New("sseconn: invalid event")

	// ErrTooLarge reports a request body over the gateway's limit (100 KiB by
	// default, see [WithMaxBodyBytes]). Nothing was sent.
	ErrTooLarge = errors.New("sseconn: event too large")

	// ErrInvalidIdentifier reports an empty identifier or token passed to
	// [Manager.Register].
	ErrInvalidIdentifier = errors.New("sseconn: invalid identifier or token")

	// ErrTokenInUse reports a token that is already registered under another
	// identifier. A token names one browser stream, which belongs to one
	// identifier.
	ErrTokenInUse = errors.New("sseconn: token registered under another identifier")
)

// GatewayError is a non-2xx answer from the gateway (or from a proxy in front
// of it) other than 404 TOKEN_NOT_FOUND. Code and Message come from the
// gateway's JSON error body; for a non-JSON body (the gateway answers 400 and
// 413 with HTML) Code is empty and Message summarises the answer.
//
// A GatewayError means the request reached something that answered: it is
// never retried, since the gateway may have written the event.
type GatewayError struct {
	StatusCode int
	Code       string
	Message    string
}

// Error implements error.
func (e *GatewayError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("sseconn: gateway answered %d %s: %s", e.StatusCode, e.Code, e.Message)
	}
	return fmt.Sprintf("sseconn: gateway answered %d: %s", e.StatusCode, e.Message)
}
