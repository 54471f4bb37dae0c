package bus

import (
	"context"

	"github.com/ssegate/ssegate/sseconn"
)

// BroadcastKey is the routing key the gateway binds for every browser
// whose connect answer lists it.
const BroadcastKey = "broadcast"

// ConnectionKey returns the routing key of one browser stream (one tab):
// "connection.<requestID>".
func ConnectionKey(requestID string) string { return "connection." + requestID }

// SubjectKey returns the routing key of every stream of a user:
// "subject.<subject>".
func SubjectKey(subject string) string { return "subject." + subject }

// QueueState describes a gateway queue when it was declared.
type QueueState struct {
	// Messages is the number of messages ready in the queue: events
	// waiting for a browser that is not connected.
	Messages int
	// Consumers is the number of consumers: gateway streams reading it.
	Consumers int
}

// Gateway reaches browsers through a gateway in AMQP mode. Every method is
// safe for concurrent use.
type Gateway interface {
	// Keep declares the queue sse.conn.<requestID> with exactly the
	// gateway's arguments (a declare with other arguments breaks the
	// channel of whoever declares second) and binds it with each key, so
	// that events published before the browser connects wait for it.
	Keep(ctx context.Context, requestID string, keys []string) (QueueState, error)

	// Publish publishes ev on the gateway's exchange with key. The gateway
	// formats it like an /internal/send event. A key no queue is bound
	// with drops the event and is not an error.
	Publish(ctx context.Context, key string, ev sseconn.Event) error
}
