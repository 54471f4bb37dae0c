package amqp

import (
	"errors"
	"strings"
)

// Sentinel errors. Test for them with [errors.Is]; the errors returned by a
// [Publisher] wrap them with what was attempted. An invalid event is
// reported with the error of [sseconn.Event.Validate], which wraps
// [sseconn.ErrInvalidEvent].
var (
	// ErrNotConnected reports a publish attempted while the connection to
	// the broker is down. Nothing was published; the publisher is
	// reconnecting in the background (see [Publisher.Connected]).
	ErrNotConnected = errors.New("amqp: not connected to the broker")

	// ErrClosed reports a publish on a closed [Publisher]. Nothing was
	// published.
	ErrClosed = errors.New("amqp: publisher closed")

	// ErrNacked reports that the broker refused the message with a negative
	// publisher confirm (an internal error of the broker, or a queue
	// overflow with reject-publish). The message was not routed.
	ErrNacked = errors.New("amqp: message nacked by the broker")

	// ErrUnconfirmed reports that the broker's confirm did not arrive: the
	// context or the publish timeout expired, or the connection was lost
	// after the message was written. The message may or may not have been
	// routed; the error also wraps the cause ([context.DeadlineExceeded],
	// [context.Canceled] or the connection error).
	ErrUnconfirmed = errors.New("amqp: message not confirmed by the broker")

	// ErrUnroutable reports, with [WithMandatory] only, a message that the
	// broker confirmed but could not route to any queue: no gateway holds a
	// queue bound with that key, so no browser is listening.
	ErrUnroutable = errors.New("amqp: message unroutable")

	// ErrBlocked reports a publish attempted while the broker blocks the
	// connection, because it is short of memory or disk. Nothing was
	// published.
	ErrBlocked = errors.New("amqp: connection blocked by the broker")

	// ErrInvalidKey reports an empty or malformed routing key or identifier.
	// Nothing was published.
	ErrInvalidKey = errors.New("amqp: invalid routing key")
)

// notConnectedText is what an operation of a [Bus] says when the broker
// connection is down.
const notConnectedText = "not connected to the broker"

// opError is the error of a [Bus] operation: one sentence,
// "amqp: <op>: <what>[: <cause>]", that matches every sentinel it names
// (for example both [bus.ErrNotConnected] and [ErrNotConnected]) with
// errors.Is, instead of repeating each sentinel's own text.
type opError struct {
	msg  string
	errs []error
}

func (e *opError) Error() string   { return e.msg }
func (e *opError) Unwrap() []error { return e.errs }

// opErr returns the opError of op: what happened, its cause (may be nil)
// and the sentinels it matches.
func opErr(op, what string, cause error, sentinels ...error) error {
	msg := "amqp: " + op + ": " + what
	if cause != nil {
		msg += ": " + strings.TrimPrefix(cause.Error(), "amqp: ")
		sentinels = append(sentinels, cause)
	}
	return &opError{msg: msg, errs: sentinels}
}
