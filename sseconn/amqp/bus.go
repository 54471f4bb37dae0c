package amqp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/sseconn"
)

// Bus is a [bus.Bus] and a [bus.Gateway] on one RabbitMQ connection: it
// carries messages between backend replicas on the exchange
// "ssegate.replicas" (see [ReplicaExchangeName]) and reaches browsers
// through the gateway's exchange and queues. Pass it to task.WithBus, and
// [Bus.Gateway] to version.WithGateway.
//
// Each Bus has its own queue, "ssegate.replica.<uuid>", exclusive and
// auto-deleted: the broker deletes it when the connection ends, so a
// replica that dies stops receiving at once and requests to the keys only
// it bound come back unroutable ([bus.ErrNoRoute]).
//
// When the connection is lost, every call fails with an error wrapping
// [bus.ErrNotConnected] and [ErrNotConnected] until a supervisor goroutine
// has reconnected (with the backoff of [WithBackoff]), declared a new queue,
// restored every binding and told each [bus.Handler] (Reconnected).
type Bus struct {
	cfg       config
	url       string // with its password: never log it
	redacted  string
	exchange  string // the gateway's
	replicas  string // the replicas'
	queueArgs amqp091.Table
	nextID    atomic.Uint64

	keysMu sync.Mutex     // guards keys; held while binding, so that binds and unbinds keep their order
	keys   map[string]int // bound keys and how many times

	mu       sync.Mutex // guards the fields below
	sess     *busSession
	closed   bool
	handlers map[int]bus.Handler
	nextH    int

	stop      context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ bus.Bus     = (*Bus)(nil)
	_ bus.Gateway = gateway{}
)

// busSession is one connection with its channels.
type busSession struct {
	conn       *amqp091.Connection
	connClosed <-chan *amqp091.Error

	pubMu   sync.Mutex // serializes writes of messages, for confirm bookkeeping
	pub     *amqp091.Channel
	returns <-chan amqp091.Return
	retMu   sync.Mutex
	pending map[string]bool // mandatory messages in flight: whether returned

	ctl        *amqp091.Channel // the replica queue: declare, bind, consume
	queue      string
	deliveries <-chan amqp091.Delivery

	declMu sync.Mutex
	decl   *amqp091.Channel // gateway queue declares; replaced after a channel error
}

// NewBus connects to the broker at url, declares both exchanges and this
// replica's queue, and starts consuming it. The first connection is not
// retried; later losses are. Options: [WithEnvPrefix], [WithQueueTTL],
// [WithPublishTimeout], [WithDialTimeout], [WithBackoff], [WithTLSConfig],
// [WithLogger]; the others are ignored.
func NewBus(ctx context.Context, url string, opts ...Option) (*Bus, error) {
	cfg := newConfig(opts)
	redacted, err := redactURL(url)
	if err != nil {
		return nil, err
	}
	b := &Bus{
		cfg:       cfg,
		url:       url,
		redacted:  redacted,
		exchange:  cfg.exchange(),
		replicas:  cfg.replicaExchange(),
		queueArgs: amqp091.Table{"x-expires": smallestInt(cfg.queueTTL.Milliseconds())},
		keys:      make(map[string]int),
		handlers:  make(map[int]bus.Handler),
		done:      make(chan struct{}),
	}
	s, err := b.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("amqp: connect to %s: %w", redacted, err)
	}
	b.sess = s
	b.stop, b.cancel = context.WithCancel(context.Background())
	go b.supervise(s)
	return b, nil
}

// smallestInt returns n as the smallest signed integer type that holds it,
// the type the reference gateway's AMQP client (amqplib) sends for a
// number, so that a queue declared here has the very arguments the gateway
// declares.
func smallestInt(n int64) any {
	switch {
	case n >= -128 && n < 128:
		return int8(n)
	case n >= -1<<15 && n < 1<<15:
		return int16(n)
	case n >= -1<<31 && n < 1<<31:
		return int32(n)
	}
	return n
}

// Close stops the supervisor and closes the connection; the broker then
// deletes this replica's queue. It waits for the handler call in progress.
func (b *Bus) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		b.cancel()
		<-b.done
		b.mu.Lock()
		s := b.sess
		b.sess = nil
		b.mu.Unlock()
		if s != nil {
			err = s.close()
		}
	})
	return err
}

// Connected reports whether the bus is connected to the broker.
func (b *Bus) Connected() bool {
	return b.session() != nil
}

func (b *Bus) session() *busSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	return b.sess
}

func (b *Bus) notConnected(op string) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return fmt.Errorf("amqp: %s: %w", op, ErrClosed)
	}
	return opErr(op, notConnectedText, nil, bus.ErrNotConnected, ErrNotConnected)
}

// Subscribe implements [bus.Bus].
func (b *Bus) Subscribe(h bus.Handler) func() {
	b.mu.Lock()
	id := b.nextH
	b.nextH++
	b.handlers[id] = h
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.handlers, id)
		b.mu.Unlock()
	}
}

// Bind implements [bus.Bus].
func (b *Bus) Bind(_ context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	b.keys[key]++
	if b.keys[key] > 1 {
		return nil
	}
	s := b.session()
	if s == nil {
		return b.notConnected("bind")
	}
	if err := s.ctl.QueueBind(s.queue, key, b.replicas, false, nil); err != nil {
		return opErr("bind", notConnectedText, err, bus.ErrNotConnected)
	}
	return nil
}

// Unbind implements [bus.Bus].
func (b *Bus) Unbind(_ context.Context, key string) error {
	b.keysMu.Lock()
	defer b.keysMu.Unlock()
	n, ok := b.keys[key]
	if !ok {
		return nil
	}
	if n > 1 {
		b.keys[key] = n - 1
		return nil
	}
	delete(b.keys, key)
	s := b.session()
	if s == nil {
		return nil // the new queue will not be bound with it
	}
	if err := s.ctl.QueueUnbind(s.queue, key, b.replicas, nil); err != nil {
		return opErr("unbind", notConnectedText, err, bus.ErrNotConnected)
	}
	return nil
}

// Publish implements [bus.Bus].
func (b *Bus) Publish(ctx context.Context, key string, body []byte) error {
	return b.publish(ctx, "publish", b.replicas, key, body, false)
}

// Request implements [bus.Bus].
func (b *Bus) Request(ctx context.Context, key string, body []byte) error {
	return b.publish(ctx, "request", b.replicas, key, body, true)
}

// Keep implements [bus.Gateway].Keep: it declares sse.conn.<requestID> durable,
// not exclusive, not auto-delete, with x-expires from [WithQueueTTL], and
// binds it to the gateway's exchange with each key.
func (b *Bus) Keep(_ context.Context, requestID string, keys []string) (bus.QueueState, error) {
	if err := checkID("request ID", requestID); err != nil {
		return bus.QueueState{}, err
	}
	for _, k := range keys {
		if err := checkKey(k); err != nil {
			return bus.QueueState{}, err
		}
	}
	s := b.session()
	if s == nil {
		return bus.QueueState{}, b.notConnected("keep queue")
	}
	s.declMu.Lock()
	defer s.declMu.Unlock()
	if s.decl == nil || s.decl.IsClosed() {
		ch, err := s.conn.Channel()
		if err != nil {
			return bus.QueueState{}, opErr("keep queue: open channel", notConnectedText, err, bus.ErrNotConnected)
		}
		s.decl = ch
	}
	q, err := s.decl.QueueDeclare("sse.conn."+requestID, true, false, false, false, b.queueArgs)
	if err != nil {
		return bus.QueueState{}, fmt.Errorf("amqp: keep queue: declare: %w", err)
	}
	for _, k := range keys {
		if err := s.decl.QueueBind(q.Name, k, b.exchange, false, nil); err != nil {
			return bus.QueueState{}, fmt.Errorf("amqp: keep queue: bind: %w", err)
		}
	}
	return bus.QueueState{Messages: q.Messages, Consumers: q.Consumers}, nil
}

// publishEvent publishes ev on the gateway's exchange.
func (b *Bus) publishEvent(ctx context.Context, key string, ev sseconn.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	body, err := encode(ev)
	if err != nil {
		return fmt.Errorf("amqp: encode event: %w", err)
	}
	return b.publish(ctx, "publish event", b.exchange, key, body, false)
}

func (b *Bus) publish(ctx context.Context, op, exchange, key string, body []byte, mandatory bool) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s := b.session()
	if s == nil {
		return b.notConnected(op)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
	defer cancel()
	msg := amqp091.Publishing{ContentType: contentType, Body: body}
	if exchange == b.exchange {
		msg.DeliveryMode = amqp091.Persistent
	}
	var id string
	if mandatory {
		id = strconv.FormatUint(b.nextID.Add(1), 10)
		msg.MessageId = id
		s.retMu.Lock()
		s.pending[id] = false
		s.retMu.Unlock()
	}
	s.pubMu.Lock()
	dc, err := s.pub.PublishWithDeferredConfirmWithContext(ctx, exchange, key, mandatory, false, msg)
	s.pubMu.Unlock()
	if err != nil {
		s.settle(id)
		if s.pub.IsClosed() || errors.Is(err, amqp091.ErrClosed) {
			return opErr(op, notConnectedText, err, bus.ErrNotConnected)
		}
		return fmt.Errorf("amqp: %s: %w", op, err)
	}
	acked, err := dc.WaitContext(ctx)
	returned := s.settle(id)
	switch {
	case err != nil:
		return fmt.Errorf("amqp: %s: %w: %w", op, ErrUnconfirmed, err)
	case !acked && s.pub.IsClosed():
		return opErr(op, "message not confirmed by the broker", errConnectionLost, ErrUnconfirmed, bus.ErrNotConnected)
	case !acked:
		return fmt.Errorf("amqp: %s: %w", op, ErrNacked)
	case returned:
		return opErr(op, "no replica bound the routing key", nil, bus.ErrNoRoute, ErrUnroutable)
	}
	return nil
}

// settle forgets the mandatory message id and reports whether the broker
// returned it. The broker sends a return before the confirm, and amqp091
// hands it to the returns channel before it handles the confirm.
func (s *busSession) settle(id string) bool {
	if id == "" {
		return false
	}
	s.retMu.Lock()
	defer s.retMu.Unlock()
	for {
		select {
		case r, ok := <-s.returns:
			if ok {
				if _, mine := s.pending[r.MessageId]; mine {
					s.pending[r.MessageId] = true
				}
				continue
			}
		default:
		}
		break
	}
	returned := s.pending[id]
	delete(s.pending, id)
	return returned
}

// connect dials the broker and sets up a session: the exchanges, the
// replica queue with every key bound, and its consumer.
func (b *Bus) connect(ctx context.Context) (*busSession, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.dialTimeout)
	defer cancel()
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName("ssegate replica bus")
	acfg := amqp091.Config{Dial: amqp091.DefaultDial(b.cfg.dialTimeout), Properties: props}
	if b.cfg.tls != nil {
		acfg.TLSClientConfig = b.cfg.tls.Clone()
	}
	type result struct {
		s   *busSession
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := b.dialSetup(acfg)
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		go func() { // the dial gives up within the dial timeout
			if r := <-ch; r.s != nil {
				b.mu.Lock()
				if b.sess == r.s {
					b.sess = nil
				}
				b.mu.Unlock()
				_ = r.s.close()
			}
		}()
		return nil, ctx.Err()
	}
}

func (b *Bus) dialSetup(acfg amqp091.Config) (*busSession, error) {
	conn, err := amqp091.DialConfig(b.url, acfg)
	if err != nil {
		return nil, err
	}
	s, err := b.setup(conn)
	if err != nil {
		_ = conn.CloseDeadline(time.Now().Add(closeTimeout))
		return nil, err
	}
	return s, nil
}

func (b *Bus) setup(conn *amqp091.Connection) (*busSession, error) {
	s := &busSession{conn: conn, connClosed: conn.NotifyClose(make(chan *amqp091.Error, 1)),
		pending: make(map[string]bool)}
	var err error
	if s.pub, err = conn.Channel(); err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := s.pub.Confirm(false); err != nil {
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	s.returns = s.pub.NotifyReturn(make(chan amqp091.Return, returnsBuffer))
	for _, ex := range []string{b.exchange, b.replicas} {
		if err := s.pub.ExchangeDeclare(ex, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
			return nil, fmt.Errorf("declare exchange %q: %w", ex, err)
		}
	}
	if s.ctl, err = conn.Channel(); err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	q, err := s.ctl.QueueDeclare("ssegate.replica."+uuid.New(), false, true, true, false, nil)
	if err != nil {
		return nil, fmt.Errorf("declare replica queue: %w", err)
	}
	s.queue = q.Name
	b.keysMu.Lock()
	for k := range b.keys {
		if err := s.ctl.QueueBind(s.queue, k, b.replicas, false, nil); err != nil {
			b.keysMu.Unlock()
			return nil, fmt.Errorf("bind replica queue: %w", err)
		}
	}
	// Installed under keysMu, so that a Bind after this sees the session
	// and a Bind before it was restored above.
	b.mu.Lock()
	if b.sess == nil && !b.closed && b.stop != nil {
		b.sess = s
	}
	b.mu.Unlock()
	b.keysMu.Unlock()
	if s.deliveries, err = s.ctl.Consume(s.queue, "", true, true, false, false, nil); err != nil {
		return nil, fmt.Errorf("consume replica queue: %w", err)
	}
	return s, nil
}

func (s *busSession) close() error {
	err := s.conn.CloseDeadline(time.Now().Add(closeTimeout))
	if errors.Is(err, amqp091.ErrClosed) {
		return nil
	}
	return err
}

// supervise dispatches deliveries and reconnects after a loss.
func (b *Bus) supervise(s *busSession) {
	defer close(b.done)
	for {
		cause := b.serve(s)
		if cause == nil {
			return
		}
		b.mu.Lock()
		if b.sess == s {
			b.sess = nil
		}
		b.mu.Unlock()
		b.cfg.logger.Warn("amqp: bus connection lost", "broker", b.redacted, "err", cause)
		_ = s.close()
		if s = b.reconnect(); s == nil {
			return
		}
		b.cfg.logger.Info("amqp: bus reconnected", "broker", b.redacted)
		for _, h := range b.handlerList() {
			h.Reconnected()
		}
	}
}

func (b *Bus) handlerList() []bus.Handler {
	b.mu.Lock()
	defer b.mu.Unlock()
	hs := make([]bus.Handler, 0, len(b.handlers))
	for _, h := range b.handlers {
		hs = append(hs, h)
	}
	return hs
}

// serve delivers messages until the session is lost (it returns the cause)
// or the bus is closed (nil).
func (b *Bus) serve(s *busSession) error {
	for {
		select {
		case <-b.stop.Done():
			return nil
		case e, ok := <-s.connClosed:
			if ok && e != nil {
				return e
			}
			return amqp091.ErrClosed
		case d, ok := <-s.deliveries:
			if !ok {
				return errors.New("replica queue consumer stopped")
			}
			for _, h := range b.handlerList() {
				h.Deliver(d.RoutingKey, d.Body)
			}
		}
	}
}

func (b *Bus) reconnect() *busSession {
	delay := b.cfg.minBackoff
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(delay/2 + rand.N(delay/2+1))
		select {
		case <-b.stop.Done():
			return nil
		case <-timer.C:
		}
		s, err := b.connect(b.stop)
		if err == nil {
			b.mu.Lock()
			installed := b.sess == s
			b.mu.Unlock()
			if installed {
				return s
			}
			_ = s.close() // closed meanwhile
			return nil
		}
		if b.stop.Err() != nil {
			return nil
		}
		b.cfg.logger.Warn("amqp: bus reconnect failed", "broker", b.redacted, "err", err)
		delay = min(delay*2, b.cfg.maxBackoff)
	}
}

// gateway adapts a Bus to [bus.Gateway], whose Publish takes an event.
type gateway struct{ b *Bus }

// Gateway returns b as a [bus.Gateway], for version.WithGateway.
func (b *Bus) Gateway() bus.Gateway { return gateway{b} }

func (g gateway) Keep(ctx context.Context, requestID string, keys []string) (bus.QueueState, error) {
	return g.b.Keep(ctx, requestID, keys)
}

func (g gateway) Publish(ctx context.Context, key string, ev sseconn.Event) error {
	return g.b.publishEvent(ctx, key, ev)
}
