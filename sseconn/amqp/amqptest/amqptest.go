package amqptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/ssegate/ssegate/sseconn/amqp"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// prefetch is the reference gateway's.
const prefetch = 10

// primeTimeout bounds the wait for the messages that were ready in a queue
// when it was declared.
const primeTimeout = 5 * time.Second

// Option configures [WithAMQP].
type Option interface{ apply(*broker) }

type optionFunc func(*broker)

func (f optionFunc) apply(b *broker) { f(b) }

// WithEnvPrefix sets the gateway's RABBITMQ_ENV_PREFIX: the exchange is
// "<prefix>.sse.events". Empty means none.
func WithEnvPrefix(prefix string) Option {
	return optionFunc(func(b *broker) {
		b.exchange = amqp.ExchangeName
		if prefix != "" {
			b.exchange = prefix + "." + amqp.ExchangeName
		}
	})
}

// WithAMQP returns the option that puts a gatewaytest.Server in AMQP mode
// on the broker at url, with the queue TTL ttl (the gateway's
// RABBITMQ_QUEUE_TTL_MS; zero or negative means [amqp.DefaultQueueTTL]).
// The broker is dialed when the first stream needs it; a failure ends that
// stream as a failed queue setup does.
func WithAMQP(url string, ttl time.Duration, opts ...Option) gatewaytest.Option {
	if ttl <= 0 {
		ttl = amqp.DefaultQueueTTL
	}
	b := &broker{url: url, exchange: amqp.ExchangeName, ttl: ttl}
	for _, o := range opts {
		if o != nil {
			o.apply(b)
		}
	}
	return gatewaytest.WithBroker(b)
}

// broker implements gatewaytest.Broker.
type broker struct {
	url      string
	exchange string
	ttl      time.Duration

	mu     sync.Mutex // guards conn and closed
	conn   *amqp091.Connection
	closed bool
	wg     sync.WaitGroup // consumer goroutines
}

var errClosed = errors.New("amqptest: broker closed")

// connection returns the connection, dialing it if needed.
func (b *broker) connection() (*amqp091.Connection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	if b.conn != nil && !b.conn.IsClosed() {
		return b.conn, nil
	}
	conn, err := amqp091.DialConfig(b.url, amqp091.Config{Dial: amqp091.DefaultDial(10 * time.Second)})
	if err != nil {
		return nil, fmt.Errorf("amqptest: dial: %w", err)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.ExchangeDeclare(b.exchange, amqp091.ExchangeTopic, true, false, false, false, nil)
		_ = ch.Close()
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("amqptest: declare exchange %q: %w", b.exchange, err)
	}
	b.conn = conn
	return conn, nil
}

// queueArgs are the reference gateway's: x-expires as the smallest signed
// integer type that holds it, as its AMQP client (amqplib) encodes numbers.
func (b *broker) queueArgs() amqp091.Table {
	n := b.ttl.Milliseconds()
	var v any = n
	switch {
	case n < 1<<7:
		v = int8(n)
	case n < 1<<15:
		v = int16(n)
	case n < 1<<31:
		v = int32(n)
	}
	return amqp091.Table{"x-expires": v}
}

// Consume implements gatewaytest.Broker.
func (b *broker) Consume(ctx context.Context, requestID string, keys []string,
	deliver func(gatewaytest.Event) gatewaytest.Disposition, lost func(error)) (func(), error) {
	conn, err := b.connection()
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqptest: open channel: %w", err)
	}
	fail := func(what string, err error) (func(), error) {
		_ = ch.Close()
		return nil, fmt.Errorf("amqptest: %s: %w", what, err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		return fail("set prefetch", err)
	}
	q, err := ch.QueueDeclare("sse.conn."+requestID, true, false, false, false, b.queueArgs())
	if err != nil {
		return fail("declare queue", err)
	}
	for _, k := range keys {
		if err := ch.QueueBind(q.Name, k, b.exchange, false, nil); err != nil {
			return fail("bind queue", err)
		}
	}
	ds, err := ch.Consume(q.Name, "", false, false, false, false, nil)
	if err != nil {
		return fail("consume", err)
	}
	closed := ch.NotifyClose(make(chan *amqp091.Error, 1))

	var stopped atomic.Bool
	primed := make(chan struct{})
	prime := sync.OnceFunc(func() { close(primed) })
	if q.Messages == 0 {
		prime()
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer prime()
		n := 0
		for d := range ds {
			ev, ok := parse(d.Body)
			switch {
			case !ok:
				_ = d.Nack(false, false)
			default:
				switch deliver(ev) {
				case gatewaytest.Ack:
					_ = d.Ack(false)
				case gatewaytest.Drop:
					_ = d.Nack(false, false)
				default:
					_ = d.Nack(false, true)
				}
			}
			if n++; n == q.Messages {
				prime()
			}
		}
		if !stopped.Load() {
			cause := errors.New("consumer stopped")
			if e, ok := <-closed; ok && e != nil {
				cause = e
			}
			lost(cause)
		}
	}()

	stop := sync.OnceFunc(func() {
		stopped.Store(true)
		_ = ch.Close() // unacked messages go back to the queue
	})
	timer := time.NewTimer(primeTimeout)
	defer timer.Stop()
	select {
	case <-primed:
	case <-ctx.Done():
	case <-timer.C:
	}
	return stop, nil
}

// parse reads a message body as the reference gateway does: "data" must be
// a string; "event", when a string, names the event. Not copied: the
// reference gateway breaks the stream on "event": null and on "event":
// "rejected" with empty data (docs/protocol.md, AMQP mode), and puts an
// "event" that is a non-empty array into the envelope; here the first and
// the last are unnamed events and the second a rejected event.
func parse(body []byte) (gatewaytest.Event, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return gatewaytest.Event{}, false
	}
	var ev gatewaytest.Event
	if json.Unmarshal(m["data"], &ev.Data) != nil || len(m["data"]) == 0 || m["data"][0] != '"' {
		return gatewaytest.Event{}, false
	}
	if raw := m["event"]; len(raw) > 0 && raw[0] == '"' {
		_ = json.Unmarshal(raw, &ev.Name)
	}
	return ev, true
}

// Close implements gatewaytest.Broker.
func (b *broker) Close() error {
	b.mu.Lock()
	b.closed = true
	conn := b.conn
	b.conn = nil
	b.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
		if errors.Is(err, amqp091.ErrClosed) {
			err = nil
		}
	}
	b.wg.Wait()
	return err
}
