package amqp

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// closeTimeout bounds the AMQP close handshake of a connection.
const closeTimeout = 2 * time.Second

// returnsBuffer is the capacity of the channel of returned (unroutable
// mandatory) messages. Publishes drain it; should it fill up, amqp091 waits
// up to 5 s for room and then drops the return.
const returnsBuffer = 1024

// session is one connection to the broker with its channel in confirm mode
// and the notifications the supervisor watches.
type session struct {
	conn *amqp091.Connection
	ch   *amqp091.Channel

	connClosed <-chan *amqp091.Error
	chClosed   <-chan *amqp091.Error
	blocks     <-chan amqp091.Blocking
	returns    <-chan amqp091.Return // nil without the mandatory flag

	blocked atomic.Bool // whether the broker blocks the connection

	retMu   sync.Mutex      // guards pending and receiving from returns
	pending map[string]bool // IDs of mandatory messages being published: whether they were returned
}

// connect opens a session: it dials the broker, opens a channel, puts it in
// confirm mode and declares the exchange, all bounded by ctx and the dial
// timeout.
func (p *Publisher) connect(ctx context.Context) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.dialTimeout)
	defer cancel()

	// abort is set by dial, which DialConfig calls on this goroutine. It
	// closes the socket when ctx ends, which fails whatever step of the
	// handshake or setup is waiting for the broker.
	var abort func() bool
	dial := func(network, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		// Bound the TLS and AMQP handshakes; amqp091 clears the deadline
		// once the connection is open.
		deadline, _ := ctx.Deadline()
		if err := nc.SetDeadline(deadline); err != nil {
			nc.Close()
			return nil, err
		}
		abort = context.AfterFunc(ctx, func() { nc.Close() })
		return nc, nil
	}
	props := amqp091.NewConnectionProperties()
	props.SetClientConnectionName("ssegate amqp publisher")
	cfg := amqp091.Config{Dial: dial, Properties: props}
	if p.cfg.tls != nil {
		cfg.TLSClientConfig = p.cfg.tls.Clone()
	}

	conn, err := amqp091.DialConfig(p.url, cfg)
	if err != nil {
		if abort != nil {
			abort()
		}
		if cerr := ctxErr(ctx); cerr != nil {
			return nil, fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, err
	}
	s, err := p.setup(conn)
	if !abort() && err == nil {
		// ctx ended as the setup finished: the socket may be closed.
		err = ctx.Err()
	}
	if err != nil {
		_ = conn.CloseDeadline(time.Now().Add(closeTimeout))
		if cerr := ctxErr(ctx); cerr != nil {
			return nil, fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, err
	}
	return s, nil
}

// ctxErr returns the error of ctx, or DeadlineExceeded once its deadline
// has passed: a socket deadline set to the same instant can fire first.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// setup opens the channel of a new connection and registers the
// notifications.
func (p *Publisher) setup(conn *amqp091.Connection) (*session, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	if err := ch.ExchangeDeclare(p.exchange, amqp091.ExchangeTopic, true, false, false, false, nil); err != nil {
		return nil, fmt.Errorf("declare exchange %q: %w", p.exchange, err)
	}
	s := &session{
		conn: conn,
		ch:   ch,
		// One error at most is sent to each close listener; a buffer of
		// one keeps amqp091 from parking a goroutine to deliver it.
		connClosed: conn.NotifyClose(make(chan *amqp091.Error, 1)),
		chClosed:   ch.NotifyClose(make(chan *amqp091.Error, 1)),
		blocks:     conn.NotifyBlocked(make(chan amqp091.Blocking, 4)),
	}
	if p.cfg.mandatory {
		s.pending = make(map[string]bool)
		s.returns = ch.NotifyReturn(make(chan amqp091.Return, returnsBuffer))
	}
	return s, nil
}

// close closes the connection, which fails the confirms still pending.
func (s *session) close() error {
	err := s.conn.CloseDeadline(time.Now().Add(closeTimeout))
	if err == amqp091.ErrClosed {
		return nil
	}
	return err
}

// expect registers a mandatory message whose publish is about to be
// written, so that a return for it is recorded.
func (s *session) expect(id string) {
	s.retMu.Lock()
	s.pending[id] = false
	s.retMu.Unlock()
}

// settle drains the returns that have arrived and reports whether the
// message with the given ID was among them, forgetting the ID. Returns of
// messages that nobody waits for any more are dropped.
//
// The broker sends the basic.return of an unroutable mandatory message
// before its basic.ack, and amqp091's reader goroutine puts the return in
// the buffered returns channel before it completes the confirm. So once
// the confirm is complete, the return is in the channel or already drained
// into pending by another publish. Only publishes drain the channel: a
// receive by any other goroutine could not be atomic with recording.
func (s *session) settle(id string) (returned bool) {
	s.retMu.Lock()
	defer s.retMu.Unlock()
	s.drainReturnsLocked()
	returned = s.pending[id]
	delete(s.pending, id)
	return returned
}

// drainReturnsLocked marks the pending messages that the broker returned.
// The caller holds retMu.
func (s *session) drainReturnsLocked() {
	for {
		select {
		case r, ok := <-s.returns:
			if !ok {
				return
			}
			if _, ok := s.pending[r.MessageId]; ok {
				s.pending[r.MessageId] = true
			}
		default:
			return
		}
	}
}
