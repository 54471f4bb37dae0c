package amqp_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

// recorder is a bus.Handler that passes on what it receives.
type recorder struct {
	msgs        chan string // key + " " + body
	reconnected chan struct{}
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan string, 64), reconnected: make(chan struct{}, 8)}
}

func (r *recorder) Deliver(key string, body []byte) { r.msgs <- key + " " + string(body) }
func (r *recorder) Reconnected()                    { r.reconnected <- struct{}{} }

func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message")
		return ""
	}
}

func newTestBus(t *testing.T, url, prefix string) *amqp.Bus {
	t.Helper()
	b, err := amqp.NewBus(testCtx(t), url, amqp.WithEnvPrefix(prefix),
		amqp.WithBackoff(20*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		t.Fatalf("NewBus: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Publish reaches every bus that bound the key; Request fails with
// ErrNoRoute when none did; Unbind undoes one Bind.
func TestBusRouting(t *testing.T) {
	url := testenv.Require(t, testenv.RabbitMQ)
	prefix := uniqueName(t)
	a, b := newTestBus(t, url, prefix), newTestBus(t, url, prefix)
	ra, rb := newRecorder(), newRecorder()
	defer a.Subscribe(ra)()
	defer b.Subscribe(rb)()
	ctx := testCtx(t)

	if err := a.Request(ctx, "k.one", []byte("x")); !errors.Is(err, bus.ErrNoRoute) {
		t.Fatalf("Request to an unbound key: %v, want ErrNoRoute", err)
	}
	for _, x := range []*amqp.Bus{a, b} {
		if err := x.Bind(ctx, "k.one"); err != nil {
			t.Fatalf("Bind: %v", err)
		}
	}
	if err := a.Bind(ctx, "k.one"); err != nil { // counted: a needs two Unbinds
		t.Fatalf("Bind: %v", err)
	}
	if err := b.Request(ctx, "k.one", []byte("hello")); err != nil {
		t.Fatalf("Request: %v", err)
	}
	got := []string{ra.next(t), rb.next(t)}
	if diff := cmp.Diff([]string{"k.one hello", "k.one hello"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	_ = b.Unbind(ctx, "k.one")
	_ = a.Unbind(ctx, "k.one")
	if err := b.Request(ctx, "k.one", []byte("still")); err != nil {
		t.Fatalf("Request after one of a's two Unbinds: %v", err)
	}
	if m := ra.next(t); m != "k.one still" {
		t.Errorf("got %q", m)
	}
	_ = a.Unbind(ctx, "k.one")
	if err := b.Request(ctx, "k.one", []byte("x")); !errors.Is(err, bus.ErrNoRoute) {
		t.Fatalf("Request after every Unbind: %v, want ErrNoRoute", err)
	}
	if err := a.Publish(ctx, "k.one", []byte("x")); err != nil {
		t.Fatalf("Publish to an unbound key: %v, want nil", err)
	}
}

// After a lost connection the bus fails fast with ErrNotConnected,
// reconnects, restores its bindings and tells its handlers.
func TestBusReconnect(t *testing.T) {
	url := testenv.Require(t, testenv.RabbitMQ)
	prefix := uniqueName(t)
	p, purl := newProxy(t, url)
	a, b := newTestBus(t, purl, prefix), newTestBus(t, url, prefix)
	ra := newRecorder()
	defer a.Subscribe(ra)()
	ctx := testCtx(t)
	if err := a.Bind(ctx, "k.two"); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	waitFor(t, "the bus to notice the cut", func() bool { return !a.Connected() })
	if err := a.Publish(ctx, "k.two", nil); !errors.Is(err, bus.ErrNotConnected) {
		t.Errorf("Publish while cut: %v, want ErrNotConnected", err)
	}
	if err := a.Bind(ctx, "k.three"); !errors.Is(err, bus.ErrNotConnected) {
		t.Errorf("Bind while cut: %v, want ErrNotConnected", err)
	}
	p.Restore()
	select {
	case <-ra.reconnected:
	case <-time.After(waitTimeout):
		t.Fatal("no Reconnected")
	}
	for _, k := range []string{"k.two", "k.three"} {
		if err := b.Request(ctx, k, []byte("back")); err != nil {
			t.Fatalf("Request %s after the reconnect: %v", k, err)
		}
		if m := ra.next(t); m != k+" back" {
			t.Errorf("got %q", m)
		}
	}
}

// Keep declares the gateway's queue and reports its messages.
func TestBusKeep(t *testing.T) {
	e := newEnv(t) // a connection of its own, to clean up
	prefix := e.prefix
	b := newTestBus(t, e.url, prefix)
	g := b.Gateway()
	ctx := testCtx(t)
	keys := []string{bus.ConnectionKey(prefix), bus.BroadcastKey}
	if _, err := g.Keep(ctx, prefix, keys); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	t.Cleanup(func() { _, _ = e.channel().QueueDelete("sse.conn."+prefix, false, false, false) })
	if err := g.Publish(ctx, bus.ConnectionKey(prefix), sseconn.Event{Name: "version", Data: `{"v":1}`}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	qs, err := g.Keep(ctx, prefix, keys)
	if err != nil {
		t.Fatalf("Keep: %v", err)
	}
	if diff := cmp.Diff(bus.QueueState{Messages: 1}, qs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := g.Keep(ctx, "a.b", keys); !errors.Is(err, amqp.ErrInvalidKey) {
		t.Errorf("Keep with a dotted request ID: %v, want ErrInvalidKey", err)
	}
}
