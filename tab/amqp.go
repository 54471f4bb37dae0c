package tab

import (
	"context"
	"fmt"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

// bindings returns the routing keys of the tab key of subject.
func bindings(key, subject string) []string {
	keys := []string{bus.ConnectionKey(key), bus.BroadcastKey}
	if subject != "" {
		keys = append(keys, bus.SubjectKey(SubjectKey(subject)))
	}
	return keys
}

// sendAMQP publishes ev with the routing key of aud. An event To a tab
// first declares the tab's queue (bus.Gateway.Keep, with the gateway's
// arguments), so that it waits there if the tab has not connected yet.
func (h *Hub) sendAMQP(ctx context.Context, aud Audience, ev sseconn.Event) error {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.sendTimeout)
	defer cancel()
	var key string
	switch aud.kind {
	case audienceTab:
		k := Key(aud.requestID, aud.subject)
		if _, err := h.cfg.gateway.Keep(ctx, k, bindings(k, aud.subject)); err != nil {
			return fmt.Errorf("tab: send to %s: declare its queue: %w", aud, err)
		}
		key = bus.ConnectionKey(k)
	case audienceSubject:
		key = bus.SubjectKey(SubjectKey(aud.subject))
	case audienceBroadcast:
		key = bus.BroadcastKey
	}
	if err := h.cfg.gateway.Publish(ctx, key, ev); err != nil {
		return fmt.Errorf("tab: send to %s: %w", aud, err)
	}
	return nil
}

// connectAMQP answers the connect of tab key in AMQP mode: the gateway
// consumes the queue sse.conn.<key>, bound with the tab's routing keys.
// The greeting is sent by token; the gateway writes it when the stream
// opens, before the events waiting in the queue.
func (h *Hub) connectAMQP(ctx context.Context, req *callback.Request, key, subject string) (*callback.ConnectResponse, error) {
	keys := bindings(key, subject)
	kctx, cancel := context.WithTimeout(ctx, h.cfg.sendTimeout)
	// Declared here too, so that a queue made by an earlier Send is
	// declared with the same arguments, and so that a broker problem
	// refuses the connect rather than breaking the gateway's channel.
	_, err := h.cfg.gateway.Keep(kctx, key, keys)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("tab: connect: declare queue of tab %s: %w", key, err)
	}
	if greeting := h.greet(ctx); len(greeting) > 0 {
		ident := Kind + ":" + key
		if err := h.conn.Register(ctx, ident, req.Token); err != nil {
			return nil, fmt.Errorf("tab: connect: register %s: %w", ident, err)
		}
		sctx, cancel := context.WithTimeout(ctx, h.cfg.sendTimeout)
		for _, ev := range greeting {
			if err := h.conn.Send(sctx, ident, ev); err != nil {
				h.log.Warn("tab: greeting not sent", "tab", key, "error", err)
				break
			}
		}
		cancel()
	}
	h.ins.connect(ctx)
	return &callback.ConnectResponse{RequestID: key, Bindings: keys, Subject: subjectOut(subject)}, nil
}

// subjectOut is the subject the connect answer reports: its hash, never
// the subject itself, which may identify a person.
func subjectOut(subject string) string {
	if subject == "" {
		return ""
	}
	return SubjectKey(subject)
}
