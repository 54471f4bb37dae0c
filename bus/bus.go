package bus

import (
	"context"
	"errors"
)

// ErrNoRoute is returned by [Bus.Request] when no replica has bound the
// routing key: the broker returned the message.
var ErrNoRoute = errors.New("bus: no replica bound the routing key")

// ErrNotConnected is wrapped by the errors of a [Bus] or [Gateway] that is
// not connected to its broker at the moment: nothing was sent. The
// implementation reconnects by itself.
var ErrNotConnected = errors.New("bus: not connected to the broker")

// Bus carries messages between the replicas of one backend. Every method is
// safe for concurrent use.
type Bus interface {
	// Subscribe adds h to the handlers that receive every message that
	// reaches this replica, and returns a function that removes it. A
	// handler ignores keys that are not its own.
	Subscribe(h Handler) (unsubscribe func())

	// Bind makes messages published with key reach this replica. The
	// binding is remembered and restored after a reconnect, even when
	// Bind returns an error because the broker is unreachable at the
	// moment. Bindings are counted: a key bound twice needs two Unbinds.
	Bind(ctx context.Context, key string) error

	// Unbind undoes one Bind of key.
	Unbind(ctx context.Context, key string) error

	// Publish sends body to every replica that bound key, and returns once
	// the broker has taken responsibility for it. A key that no replica
	// bound is not an error.
	Publish(ctx context.Context, key string, body []byte) error

	// Request is Publish, but returns an error wrapping ErrNoRoute when no
	// replica bound key.
	Request(ctx context.Context, key string, body []byte) error
}

// Handler receives the messages of a [Bus]. Its methods are called from the
// bus's delivery goroutine, one at a time: they must not block for long.
type Handler interface {
	// Deliver is called with each message that reaches this replica.
	Deliver(key string, body []byte)

	// Reconnected is called after the bus lost its broker connection and
	// established a new one with every binding restored. Messages
	// published while it was disconnected may have been lost.
	Reconnected()
}
