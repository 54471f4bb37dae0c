package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

// received is what a test checks of a delivery.
type received struct {
	Exchange     string
	RoutingKey   string
	Body         string
	ContentType  string
	DeliveryMode uint8
}

func receivedOf(d amqp091.Delivery) received {
	return received{Exchange: d.Exchange, RoutingKey: d.RoutingKey, Body: string(d.Body),
		ContentType: d.ContentType, DeliveryMode: d.DeliveryMode}
}

func TestPublishReachesGatewayQueue(t *testing.T) {
	e := newEnv(t)
	p := e.dial()
	reqID := e.id("tab1")
	c := e.consume(e.queue(reqID, nil, amqp.ConnectionKey(reqID)))

	tests := []struct {
		name string
		ev   sseconn.Event
		body string
	}{
		{"named", sseconn.Event{Name: "notification", Data: `{"text":"hi"}`},
			`{"event":"notification","data":"{\"text\":\"hi\"}"}`},
		{"unnamed omits event", sseconn.Event{Data: "plain text"}, `{"data":"plain text"}`},
		{"unnamed multi-line", sseconn.Event{Data: "line 1\nline 2"}, `{"data":"line 1\nline 2"}`},
		{"unnamed empty", sseconn.Event{}, `{"data":""}`},
		{"named scalar JSON", sseconn.Event{Name: "count", Data: `42`}, `{"event":"count","data":"42"}`},
		{"unicode", sseconn.Event{Name: "msg", Data: `"héllo ✓"`}, `{"event":"msg","data":"\"héllo ✓\""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.PublishToConnection(testCtx(t), reqID, tt.ev); err != nil {
				t.Fatalf("PublishToConnection: %v", err)
			}
			want := received{Exchange: e.exchange, RoutingKey: "connection." + reqID, Body: tt.body,
				ContentType: "application/json", DeliveryMode: amqp091.Persistent}
			if diff := cmp.Diff(want, receivedOf(c.next())); diff != "" {
				t.Errorf("delivery (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	p := e.dial()

	// Two browsers, bound the way their connect services answered.
	alice, bob := e.id("alice"), e.id("bob")
	b1, err := amqp.Bindings(e.id("tab1"), alice, "admin")
	if err != nil {
		t.Fatal(err)
	}
	b2, err := amqp.Bindings(e.id("tab2"), bob, "")
	if err != nil {
		t.Fatal(err)
	}
	tab1 := e.consume(e.queue(b1.RequestID, nil, b1.Bindings...))
	tab2 := e.consume(e.queue(b2.RequestID, nil, b2.Bindings...))
	ctx := testCtx(t)

	tests := []struct {
		name    string
		publish func(ev sseconn.Event) error
		tab1    bool // whether tab1 receives it
		tab2    bool
	}{
		{"connection tab1", func(ev sseconn.Event) error { return p.PublishToConnection(ctx, b1.RequestID, ev) }, true, false},
		{"connection tab2", func(ev sseconn.Event) error { return p.PublishToConnection(ctx, b2.RequestID, ev) }, false, true},
		{"subject alice", func(ev sseconn.Event) error { return p.PublishToSubject(ctx, alice, ev) }, true, false},
		{"subject bob", func(ev sseconn.Event) error { return p.PublishToSubject(ctx, bob, ev) }, false, true},
		{"role admin", func(ev sseconn.Event) error { return p.PublishToRole(ctx, "admin", ev) }, true, false},
		{"role nobody has", func(ev sseconn.Event) error { return p.PublishToRole(ctx, "guest", ev) }, false, false},
		{"broadcast", func(ev sseconn.Event) error { return p.Broadcast(ctx, ev) }, true, true},
		{"Publish with a helper key", func(ev sseconn.Event) error { return p.Publish(ctx, amqp.SubjectKey(bob), ev) }, false, true},
		{"unknown connection", func(ev sseconn.Event) error { return p.PublishToConnection(ctx, e.id("gone"), ev) }, false, false},
	}
	var want1, want2 []string
	for i, tt := range tests {
		ev := sseconn.Event{Name: "step", Data: fmt.Sprintf(`{"i":%d}`, i)}
		if err := tt.publish(ev); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if tt.tab1 {
			want1 = append(want1, tt.name)
		}
		if tt.tab2 {
			want2 = append(want2, tt.name)
		}
	}
	// A last broadcast marks the end: the queues are FIFO, so whatever
	// precedes it is all that was routed.
	if err := p.Broadcast(ctx, sseconn.Event{Name: "end", Data: `{}`}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		name string
		c    *consumer
		want []string
	}{{"tab1", tab1, want1}, {"tab2", tab2, want2}} {
		var got []string
		for {
			d := q.c.next()
			var i int
			if _, err := fmt.Sscanf(string(d.Body), `{"event":"step","data":"{\"i\":%d}"}`, &i); err != nil {
				if string(d.Body) != `{"event":"end","data":"{}"}` {
					t.Fatalf("%s: unexpected body %s", q.name, d.Body)
				}
				break
			}
			got = append(got, tests[i].name)
		}
		if diff := cmp.Diff(q.want, got); diff != "" {
			t.Errorf("%s received (-want +got):\n%s", q.name, diff)
		}
	}
}

func TestPublishReturnsAfterConfirm(t *testing.T) {
	e := newEnv(t)
	p := e.dial()
	reqID := e.id("tab")
	q := e.queue(reqID, nil, amqp.ConnectionKey(reqID))
	for i := 1; i <= 5; i++ {
		if err := p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "x"}); err != nil {
			t.Fatal(err)
		}
		// No consumer: the confirm means the message sits in the queue.
		if got := e.count(q); got != i {
			t.Fatalf("after %d confirmed publishes the queue holds %d messages", i, got)
		}
	}
}

func TestNothingPublishedOnError(t *testing.T) {
	e := newEnv(t)
	p := e.dial()
	all := e.consume(e.queue(e.id("all"), nil, "#"))
	reqID := e.id("tab")
	valid := sseconn.Event{Name: "ok", Data: `{}`}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		publish func(ctx context.Context) error
		want    error
	}{
		{"name with LF", func(ctx context.Context) error {
			return p.PublishToConnection(ctx, reqID, sseconn.Event{Name: "a\nb", Data: `{}`})
		}, sseconn.ErrInvalidEvent},
		{"reserved name", func(ctx context.Context) error {
			return p.Broadcast(ctx, sseconn.Event{Name: "ready", Data: `{}`})
		}, sseconn.ErrInvalidEvent},
		{"named event with non-JSON data", func(ctx context.Context) error {
			return p.PublishToSubject(ctx, "alice", sseconn.Event{Name: "n", Data: "not json"})
		}, sseconn.ErrInvalidEvent},
		{"invalid event and key: the event is checked first", func(ctx context.Context) error {
			return p.Publish(ctx, "", sseconn.Event{Name: "n", Data: "not json"})
		}, sseconn.ErrInvalidEvent},
		{"empty key", func(ctx context.Context) error { return p.Publish(ctx, "", valid) }, amqp.ErrInvalidKey},
		{"wildcard key", func(ctx context.Context) error { return p.Publish(ctx, "connection.*", valid) }, amqp.ErrInvalidKey},
		{"hash key", func(ctx context.Context) error { return p.Publish(ctx, "#", valid) }, amqp.ErrInvalidKey},
		{"empty word", func(ctx context.Context) error { return p.Publish(ctx, "subject..x", valid) }, amqp.ErrInvalidKey},
		{"key too long", func(ctx context.Context) error { return p.Publish(ctx, strings.Repeat("k", 256), valid) }, amqp.ErrInvalidKey},
		{"request ID with a dot", func(ctx context.Context) error { return p.PublishToConnection(ctx, "a.b", valid) }, amqp.ErrInvalidKey},
		{"request ID wildcard", func(ctx context.Context) error { return p.PublishToConnection(ctx, "*", valid) }, amqp.ErrInvalidKey},
		{"empty subject", func(ctx context.Context) error { return p.PublishToSubject(ctx, "", valid) }, amqp.ErrInvalidKey},
		{"role with a hash", func(ctx context.Context) error { return p.PublishToRole(ctx, "a#", valid) }, amqp.ErrInvalidKey},
		{"canceled context", func(context.Context) error { return p.Broadcast(canceled, valid) }, context.Canceled},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.publish(testCtx(t))
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			// The marker is the next message in the catch-all queue: the
			// failed publish published nothing.
			marker := fmt.Sprintf(`{"n":%d}`, i)
			if err := p.Broadcast(testCtx(t), sseconn.Event{Name: "marker", Data: marker}); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`{"event":"marker","data":%q}`, marker)
			if got := string(all.next().Body); got != want {
				t.Fatalf("next message = %s, want the marker %s", got, want)
			}
		})
	}
}

func TestNacked(t *testing.T) {
	e := newEnv(t)
	p := e.dial()
	reqID := e.id("tab")
	// A full queue that rejects publishes makes the broker nack.
	e.queue(reqID, amqp091.Table{"x-max-length": int32(1), "x-overflow": "reject-publish"}, amqp.ConnectionKey(reqID))
	ev := sseconn.Event{Data: "x"}
	if err := p.PublishToConnection(testCtx(t), reqID, ev); err != nil {
		t.Fatalf("first publish: %v", err)
	}
	err := p.PublishToConnection(testCtx(t), reqID, ev)
	if !errors.Is(err, amqp.ErrNacked) {
		t.Fatalf("publish to a full queue: error = %v, want ErrNacked", err)
	}
	// The channel survives a nack.
	if err := p.Broadcast(testCtx(t), ev); err != nil {
		t.Fatalf("publish after a nack: %v", err)
	}
}

func TestMandatory(t *testing.T) {
	e := newEnv(t)
	reqID := e.id("tab")
	c := e.consume(e.queue(reqID, nil, amqp.ConnectionKey(reqID)))
	ev := sseconn.Event{Name: "n", Data: `{}`}

	tests := []struct {
		name      string
		mandatory bool
		requestID string
		want      error
	}{
		{"mandatory, bound", true, reqID, nil},
		{"mandatory, unbound", true, e.id("nobody"), amqp.ErrUnroutable},
		{"default, unbound", false, e.id("nobody"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.dial(amqp.WithMandatory(tt.mandatory))
			err := p.PublishToConnection(testCtx(t), tt.requestID, ev)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if tt.requestID == reqID {
				c.next()
			}
		})
	}

	t.Run("concurrent mixed", func(t *testing.T) {
		p := e.dial(amqp.WithMandatory(true))
		const n = 40
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				id := reqID
				if i%2 == 1 {
					id = e.id(fmt.Sprintf("nobody%d", i))
				}
				errs[i] = p.PublishToConnection(testCtx(t), id, ev)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if i%2 == 0 && err != nil {
				t.Errorf("publish %d (routable): %v", i, err)
			}
			if i%2 == 1 && !errors.Is(err, amqp.ErrUnroutable) {
				t.Errorf("publish %d (unroutable): error = %v, want ErrUnroutable", i, err)
			}
		}
		for range n / 2 {
			c.next()
		}
	})
}

func TestConcurrentPublish(t *testing.T) {
	e := newEnv(t)
	p := e.dial()
	reqID := e.id("tab")
	c := e.consume(e.queue(reqID, nil, amqp.ConnectionKey(reqID)))
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				ev := sseconn.Event{Name: "n", Data: fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)}
				if err := p.PublishToConnection(testCtx(t), reqID, ev); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("publish: %v", err)
	}
	// Every message arrives once, and each worker's in order.
	last := make(map[int]int)
	for range workers * each {
		var w, i int
		body := string(c.next().Body)
		if _, err := fmt.Sscanf(body, `{"event":"n","data":"{\"w\":%d,\"i\":%d}"}`, &w, &i); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		if prev, ok := last[w]; (ok && i != prev+1) || (!ok && i != 0) {
			t.Fatalf("worker %d: message %d after %d", w, i, prev)
		}
		last[w] = i
	}
}

func TestPublishTimeout(t *testing.T) {
	e := newEnv(t)
	px, u := newProxy(t, e.url)
	const timeout = 300 * time.Millisecond
	p := e.dialURL(u, amqp.WithSendTimeout(timeout))
	reqID := e.id("tab")
	c := e.consume(e.queue(reqID, nil, amqp.ConnectionKey(reqID)))

	px.Pause()
	start := time.Now()
	err := p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "held"})
	elapsed := time.Since(start)
	if !errors.Is(err, amqp.ErrUnconfirmed) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish to a hanging broker: error = %v, want ErrUnconfirmed and DeadlineExceeded", err)
	}
	if elapsed < timeout || elapsed > timeout+2*time.Second {
		t.Errorf("publish returned after %v, want about %v", elapsed, timeout)
	}
	// The caller's shorter deadline wins.
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	err = p.PublishToConnection(ctx, reqID, sseconn.Event{Data: "held too"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error = %v, want DeadlineExceeded", err)
	}

	px.Resume()
	// Unconfirmed is not undelivered: the held messages arrive.
	for _, want := range []string{`{"data":"held"}`, `{"data":"held too"}`} {
		if got := string(c.next().Body); got != want {
			t.Fatalf("body = %s, want %s", got, want)
		}
	}
	if err := p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "after"}); err != nil {
		t.Fatalf("publish after the broker resumed: %v", err)
	}
}
