package version

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrInvalidInfo is returned for an [Info] without a version, and wrapped
	// by every error of [ParseInfo].
	ErrInvalidInfo = errors.New("version: invalid info")

	// ErrInvalidRequestID is returned for a request id that is empty,
	// longer than 256 bytes, or contains ':' or a control character. A
	// browser that connects with such an id is refused with 400.
	ErrInvalidRequestID = errors.New("version: invalid request id")

	// ErrDropped is wrapped by [Delivery.Err] of an event that was
	// discarded before it could be delivered: pushed out by the pending
	// limit, expired, evicted by the request-id limit, or rejected by the
	// connection manager as invalid or too large.
	ErrDropped = errors.New("version: event dropped")

	// ErrBodyTooLarge is returned by [HTTPSource.Current] when version.json
	// exceeds the configured size cap.
	ErrBodyTooLarge = errors.New("version: version.json too large")
)

// StatusError is returned by [HTTPSource.Current] when the version.json URL
// answers with a status other than 200 OK.
type StatusError struct {
	// StatusCode is the HTTP status code of the answer.
	StatusCode int
}

// Error implements error.
func (e *StatusError) Error() string {
	return "version: version.json answered status " + strconv.Itoa(e.StatusCode)
}

// reason turns a source error into the short, browser-safe text of the
// "error" field of the unknown-version event. It never includes URLs,
// addresses or other details of the error; those are logged.
func reason(err error) string {
	var se *StatusError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrBodyTooLarge):
		return "version.json too large"
	case errors.Is(err, ErrInvalidInfo):
		return "invalid version.json"
	case errors.As(err, &se):
		return fmt.Sprintf("version.json answered status %d", se.StatusCode)
	default:
		return "version source unavailable"
	}
}
