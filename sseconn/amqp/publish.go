package amqp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/internal/errs"
	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn"
)

// contentType is the content type of the messages.
const contentType = "application/json"

// Publish publishes ev to the exchange with routingKey and waits until the
// broker confirms it. The body is the JSON object
// {"event":"<name>","data":"<data>"}, without "event" for an unnamed event,
// which the gateway formats like an /internal/send event; the message is
// persistent. Use [ConnectionKey], [SubjectKey], [RoleKey] or
// [BroadcastKey] for the keys that [Bindings] subscribes browsers to, or a
// method such as [Publisher.PublishToConnection].
//
// Publish is bounded by ctx and [WithPublishTimeout]. A nil error means the
// broker confirmed the message: it was routed to every queue bound with
// routingKey, and persisted there, or there was no such queue. Without
// [WithMandatory] that last case is not an error: no browser of the key
// is connected.
//
// Errors: the error of [sseconn.Event.Validate] (wrapping
// [sseconn.ErrInvalidEvent]) or [ErrInvalidKey] before any I/O;
// [ErrNotConnected], [ErrBlocked] or [ErrClosed] at once, with nothing
// published; [ErrNacked]; [ErrUnroutable] with [WithMandatory];
// [ErrUnconfirmed] when the confirm did not arrive in time or the
// connection was lost before it, in which case the message may have been
// routed; a wrapped context error when ctx ended before the message was
// written.
func (p *Publisher) Publish(ctx context.Context, routingKey string, ev sseconn.Event) error {
	return p.publish(ctx, routingKey, checkKey(routingKey), ev)
}

// PublishToConnection publishes ev to the one browser stream whose connect
// service returned [Bindings] for requestID, with the key
// [ConnectionKey](requestID). It returns the errors of [Publisher.Publish].
func (p *Publisher) PublishToConnection(ctx context.Context, requestID string, ev sseconn.Event) error {
	return p.publish(ctx, ConnectionKey(requestID), checkID("request ID", requestID), ev)
}

// PublishToSubject publishes ev to every browser stream of a user, with
// the key [SubjectKey](subject). It returns the errors of
// [Publisher.Publish].
func (p *Publisher) PublishToSubject(ctx context.Context, subject string, ev sseconn.Event) error {
	return p.publish(ctx, SubjectKey(subject), checkID("subject", subject), ev)
}

// PublishToRole publishes ev to every browser stream of a role, with the
// key [RoleKey](role). It returns the errors of [Publisher.Publish].
func (p *Publisher) PublishToRole(ctx context.Context, role string, ev sseconn.Event) error {
	return p.publish(ctx, RoleKey(role), checkID("role", role), ev)
}

// Broadcast publishes ev to every browser stream, with the key
// [BroadcastKey]. It returns the errors of [Publisher.Publish].
func (p *Publisher) Broadcast(ctx context.Context, ev sseconn.Event) error {
	return p.publish(ctx, BroadcastKey, nil, ev)
}

// encode returns the message body of ev.
func encode(ev sseconn.Event) ([]byte, error) {
	return json.Marshal(wire.AMQPMessage{Event: ev.Name, Data: ev.Data})
}

// publish publishes ev with key, after checking ev and failing with keyErr,
// the result of checking key, if it is not nil.
func (p *Publisher) publish(ctx context.Context, key string, keyErr error, ev sseconn.Event) (err error) {
	rt := route(key)
	ctx, span := p.tel.tracer.Start(ctx, "publish "+p.exchange,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "rabbitmq"),
			attribute.String("messaging.operation.name", "publish"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", p.exchange),
			attribute.String("ssegate.route", rt),
		))
	outcome := outcomeError
	defer func() {
		p.tel.published(ctx, rt, outcome)
		span.SetAttributes(attribute.String("ssegate.outcome", outcome))
		if err != nil {
			// The error text may quote the key; the status carries the
			// outcome only.
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}()

	if err := ev.Validate(); err != nil {
		outcome = outcomeInvalid
		return err
	}
	if keyErr != nil {
		outcome = outcomeInvalid
		return keyErr
	}
	body, err := encode(ev)
	if err != nil {
		outcome = outcomeInvalid
		return fmt.Errorf("amqp: encode event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout)
	defer cancel()

	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		outcome = outcomeClosed
		return errs.Wrapf("amqp", ErrClosed, "publish %s event", rt)
	}
	s := p.sess
	if s == nil {
		p.mu.RUnlock()
		outcome = outcomeNotConnected
		return errs.Wrapf("amqp", ErrNotConnected, "publish %s event", rt)
	}
	p.inflight.Add(1)
	p.mu.RUnlock()
	defer p.inflight.Done()

	if s.blocked.Load() {
		outcome = outcomeBlocked
		return errs.Wrapf("amqp", ErrBlocked, "publish %s event", rt)
	}

	msg := amqp091.Publishing{ContentType: contentType, DeliveryMode: amqp091.Persistent, Body: body}
	var id string
	if p.cfg.mandatory {
		id = strconv.FormatUint(p.nextID.Add(1), 10)
		msg.MessageId = id
		s.expect(id)
	}

	select {
	case p.lane <- struct{}{}:
	case <-ctx.Done():
		if p.cfg.mandatory {
			s.settle(id)
		}
		outcome = outcomeCanceled
		return errs.Wrapf("amqp", ctx.Err(), "publish %s event: wait for the channel", rt)
	}
	start := time.Now()
	dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, p.exchange, key, p.cfg.mandatory, false, msg)
	<-p.lane
	if err != nil {
		if p.cfg.mandatory {
			s.settle(id)
		}
		switch {
		case ctx.Err() != nil:
			outcome = outcomeCanceled
			return errs.Wrapf("amqp", err, "publish %s event", rt)
		case s.ch.IsClosed() || errors.Is(err, amqp091.ErrClosed):
			outcome = outcomeNotConnected
			return errs.Wrapf("amqp", fmt.Errorf("%w: %w", ErrNotConnected, err), "publish %s event", rt)
		}
		return errs.Wrapf("amqp", err, "publish %s event", rt)
	}
	if dc == nil { // the channel is always in confirm mode
		if p.cfg.mandatory {
			s.settle(id)
		}
		return fmt.Errorf("amqp: publish %s event: channel not in confirm mode", rt)
	}

	acked, err := dc.WaitContext(ctx)
	returned := p.cfg.mandatory && s.settle(id)
	p.tel.latency.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(attribute.String("route", rt)))
	switch {
	case err != nil:
		outcome = outcomeUnconfirmed
		return errs.Wrapf("amqp", fmt.Errorf("%w: %w", ErrUnconfirmed, err), "publish %s event", rt)
	case !acked && s.ch.IsClosed():
		// amqp091 fails pending confirms as nacks when the channel closes.
		outcome = outcomeUnconfirmed
		return errs.Wrapf("amqp", fmt.Errorf("%w: %w", ErrUnconfirmed, errConnectionLost), "publish %s event", rt)
	case !acked:
		outcome = outcomeNacked
		return errs.Wrapf("amqp", ErrNacked, "publish %s event", rt)
	case returned:
		outcome = outcomeUnroutable
		return errs.Wrapf("amqp", ErrUnroutable, "publish %s event", rt)
	}
	outcome = outcomeOK
	return nil
}

// errConnectionLost is the cause wrapped by ErrUnconfirmed when the
// connection was lost before the confirm arrived.
var errConnectionLost = errors.New("connection lost before the confirm")
