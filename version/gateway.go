package version

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

// AMQP mode (WithGateway): events travel through the gateway's queue of each
// browser, sse.conn.<request_id>, bound with connection.<request_id> and
// broadcast. docs/scale-out.md describes the flows.

// maxAMQPRequestIDLen keeps "sse.conn.<request_id>" and
// "connection.<request_id>" within AMQP's 255-byte names.
const maxAMQPRequestIDLen = 240

// checkAMQPRequestID refuses request ids that would not be literal routing
// keys: '.', '*' and '#' are the separators and wildcards of topic
// bindings.
func checkAMQPRequestID(rid string) error {
	switch {
	case len(rid) > maxAMQPRequestIDLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidRequestID, maxAMQPRequestIDLen)
	case strings.ContainsAny(rid, ".*#"):
		return fmt.Errorf("%w: contains '.', '*' or '#'", ErrInvalidRequestID)
	}
	return nil
}

// keys returns the routing keys a browser's queue is bound with.
func keys(rid string) []string { return []string{bus.ConnectionKey(rid), bus.BroadcastKey} }

// notifyAMQP keeps the browser's queue and publishes ev to it.
func (n *Notifier) notifyAMQP(ctx context.Context, rid string, ev sseconn.Event) (Delivery, error) {
	if err := checkAMQPRequestID(rid); err != nil {
		return Delivery{RequestID: rid, Status: Dropped, Err: err}, err
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.sendTimeout)
	defer cancel()
	qs, err := n.cfg.gateway.Keep(ctx, rid, keys(rid))
	if err == nil {
		err = n.cfg.gateway.Publish(ctx, bus.ConnectionKey(rid), ev)
	}
	if err != nil {
		err = dropError("broker", err)
		n.ins.event(ctx, opNotify, Dropped)
		n.log.LogAttrs(ctx, slog.LevelWarn, "version: notify through the broker failed",
			slog.String("request_id", rid), slog.String("error", err.Error()))
		return Delivery{RequestID: rid, Status: Dropped, Err: err}, err
	}
	d := Delivery{RequestID: rid, Status: Pending}
	if qs.Consumers > 0 {
		d.Status = Delivered
	}
	n.ins.event(ctx, opNotify, d.Status)
	return d, nil
}

// broadcastAMQP publishes ev once with the broadcast key.
func (n *Notifier) broadcastAMQP(ctx context.Context, ev sseconn.Event) ([]Delivery, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.sendTimeout)
	defer cancel()
	if err := n.cfg.gateway.Publish(ctx, bus.BroadcastKey, ev); err != nil {
		return nil, fmt.Errorf("version: broadcast through the broker: %w", err)
	}
	return nil, nil
}

// connectAMQP serves a connect in AMQP mode: it keeps the browser's queue,
// sends the current version by token when the queue holds no pending event,
// and answers with the queue's request id and bindings.
func (n *Notifier) connectAMQP(ctx context.Context, span trace.Span, req *callback.Request, rid string) (*callback.ConnectResponse, error) {
	if err := checkAMQPRequestID(rid); err != nil {
		return nil, callback.Reject(http.StatusBadRequest, err.Error())
	}
	reqCtx := ctx
	ctx, cancel := context.WithTimeout(reqCtx, n.cfg.sendTimeout)
	defer cancel()
	ks := keys(rid)
	qs, err := n.cfg.gateway.Keep(ctx, rid, ks)
	if err != nil {
		return nil, fmt.Errorf("version: connect %s: keep queue: %w", req.Identifier, err)
	}
	if err := n.conn.Register(ctx, req.Identifier, req.Token); err != nil {
		return nil, fmt.Errorf("version: register %s: %w", req.Identifier, err)
	}
	resp := &callback.ConnectResponse{RequestID: rid, Bindings: ks}
	if qs.Messages > 0 {
		n.ins.connect(ctx, span, connectFlushed) // the gateway delivers them before ready
		return resp, nil
	}
	ev, what := n.currentEvent(ctx, reqCtx, rid)
	sendCtx, sendCancel := context.WithTimeout(reqCtx, n.cfg.sendTimeout)
	defer sendCancel()
	if err := n.conn.Send(sendCtx, req.Identifier, ev); err != nil {
		n.log.LogAttrs(ctx, slog.LevelWarn, "version: send current version",
			slog.String("request_id", rid), slog.String("error", err.Error()))
	}
	n.ins.connect(ctx, span, what)
	return resp, nil
}
