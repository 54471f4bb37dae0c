package gatewaytest

import (
	"context"
	"encoding/json"

	"github.com/ssegate/ssegate/internal/wire"
)

// Broker is the broker side of the gateway's AMQP mode (see [WithBroker]).
// gatewaytest does not depend on an AMQP client: the RabbitMQ
// implementation is amqptest.WithAMQP, in the module of package
// sseconn/amqp. Its methods are safe for concurrent use.
type Broker interface {
	// Consume declares the queue sse.conn.<requestID> with the gateway's
	// arguments, binds it to the gateway's exchange with each key and
	// consumes it, calling deliver with each message whose body parses as
	// {"event":"<name>","data":"<string>"}, one at a time, in queue order
	// (a body that does not parse is dropped). It returns once the
	// messages that were ready in the queue when it was declared have been
	// passed to deliver, so that they reach the browser before the ready
	// event, as with the reference gateway. lost is called, once, if the
	// consumer stops for another reason than stop (a broker connection
	// lost or the consumer cancelled by the broker). stop cancels the
	// consumer; it may be called more than once.
	Consume(ctx context.Context, requestID string, keys []string,
		deliver func(Event) Disposition, lost func(error)) (stop func(), err error)

	// Close releases the broker connection. [Server.Close] calls it after
	// every stream has ended.
	Close() error
}

// Disposition is what a [Broker] does with a message once deliver returns.
type Disposition int

const (
	// Ack: the event was written to the stream.
	Ack Disposition = iota
	// Drop: the stream was already gone; nack without requeue, as the
	// reference gateway does.
	Drop
	// Requeue: the write to the stream failed; nack with requeue, as the
	// reference gateway does, so that a reconnecting browser gets it.
	Requeue
)

// WithBroker puts the gateway in AMQP mode (the reference gateway with
// RABBITMQ_URL set): a connect answer whose JSON body carries a string
// "request_id" and a non-empty "bindings" array of strings makes the
// gateway consume the queue sse.conn.<request_id> through b after writing
// the events buffered during the callback and before the ready event
// (generation 2). The queue's messages are framed like /internal/send
// events. If the queue cannot be set up, the stream ends with a disconnect
// callback of reason error. /internal/send keeps working by token. Nil
// means HTTP-only mode, the default.
func WithBroker(b Broker) Option {
	return optionFunc(func(c *config) { c.broker = b })
}

// connectAnswer is what the gateway reads from a 2xx connect answer in AMQP
// mode; anything else in the body is ignored, and so is a body that does
// not parse.
func parseConnectAnswer(body []byte) (requestID string, bindings []string) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return "", nil
	}
	if unmarshalString(m["request_id"], &requestID) != nil {
		requestID = ""
	}
	var raw []json.RawMessage
	if json.Unmarshal(m["bindings"], &raw) != nil {
		return requestID, nil
	}
	for _, r := range raw {
		var k string
		if unmarshalString(r, &k) != nil {
			return requestID, nil // every element must be a string
		}
		bindings = append(bindings, k)
	}
	return requestID, bindings
}

// consume sets up the queue of c through the broker, after the buffered
// events were written, and then writes the ready event (generation 2). It
// reports false if the stream ended, in which case the disconnect callback
// (reason error) has been sent.
func (s *Server) consume(ctx context.Context, c *conn, requestID string, keys []string) bool {
	log := s.log.With("token", c.token)
	deliver := func(ev Event) Disposition {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.state != stateOpen {
			return Drop
		}
		if err := c.writeLocked(appendFrame(nil, s.cfg.generation, ev)); err != nil {
			log.Info("gatewaytest: write of a queued event failed", "err", err)
			s.endLocked(c, wire.ReasonError, true)
			return Requeue
		}
		return Ack
	}
	lost := func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.state == stateOpen {
			log.Warn("gatewaytest: queue consumer lost; closing the stream", "err", err)
			s.endLocked(c, wire.ReasonError, true)
		}
	}
	c.mu.Lock()
	open := c.state == stateOpen
	c.mu.Unlock()
	if !open {
		return false
	}
	stop, err := s.cfg.broker.Consume(ctx, requestID, keys, deliver, lost)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		log.Warn("gatewaytest: queue setup failed; closing the stream", "err", err)
		s.endLocked(c, wire.ReasonError, true)
		return false
	}
	if c.state != stateOpen {
		s.goTracked(stop)
		return false
	}
	c.stopConsumer = stop
	if s.cfg.generation >= 2 {
		if err := c.writeLocked([]byte(frameReady)); err != nil {
			s.endLocked(c, wire.ReasonError, true)
			return false
		}
	}
	return true
}
