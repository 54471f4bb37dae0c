package amqp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// amqpStreams is the connect service of the AMQP scenario: it binds each
// browser's queue to its connection, subject ("user") and role keys and to
// broadcast, and reports disconnects.
type amqpStreams struct {
	discs chan string // request ids of disconnected streams
}

func (s *amqpStreams) Connect(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	q := req.URL.Query()
	resp, err := amqp.Bindings(req.Params["request_id"], q.Get("user"), q.Get("role"))
	if err != nil {
		return nil, callback.Reject(http.StatusBadRequest, err.Error())
	}
	return resp, nil
}

func (s *amqpStreams) Disconnect(_ context.Context, req *callback.Request) error {
	s.discs <- req.Params["request_id"]
	return nil
}

// TestRealGatewayAMQP publishes through RabbitMQ to the reference gateway,
// generation 2, in AMQP mode: connection, subject, role and broadcast keys
// reach the right browsers, and a message published while a browser is away
// arrives when it comes back with the same request id, before "ready".
func TestRealGatewayAMQP(t *testing.T) {
	t.Parallel()
	brokerURL := testenv.Require(t, testenv.RabbitMQ)
	dir := realgw.Dir(t, 2)
	prefix := uniqueName(t)

	svc := &amqpStreams{discs: make(chan string, 16)}
	var h atomic.Pointer[callback.Handler]
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Load().ServeHTTP(w, r) }))
	t.Cleanup(backend.Close)
	handler, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(callback.Query("conn", "/api/sse/amqp", "request_id"), svc),
	)
	if err != nil {
		t.Fatal(err)
	}
	h.Store(handler)
	gw := realgw.Start(t, dir, realgw.Config{
		CallbackURL: backend.URL + "/cb?secret=s3cr3t",
		RabbitMQURL: brokerURL,
		QueueTTL:    time.Minute,
		EnvPrefix:   prefix,
	})
	ctx := testCtx(t)
	pub, err := amqp.Dial(ctx, brokerURL, amqp.WithEnvPrefix(prefix))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })

	open := func(query string) *realgw.Stream {
		t.Helper()
		sctx, cancel := context.WithCancel(context.Background())
		st, err := realgw.Open(sctx, gw.URL+"/api/sse/amqp?"+query, nil)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close(); cancel() })
		if !st.IsEventStream() {
			t.Fatalf("GET %s: %d %s", query, st.StatusCode, st.Body())
		}
		return st
	}
	read := func(st *realgw.Stream, n int) []gatewaytest.Event {
		t.Helper()
		var evs []gatewaytest.Event
		for range n {
			ev, err := st.Next(ctx)
			if err != nil {
				t.Fatalf("after %v: %v", evs, err)
			}
			evs = append(evs, ev.Unwrap())
		}
		return evs
	}
	ev := func(n string) sseconn.Event { return sseconn.Event{Name: "note", Data: `{"n":"` + n + `"}`} }
	want := func(names ...string) []gatewaytest.Event {
		var evs []gatewaytest.Event
		for _, n := range names {
			if n == "ready" {
				evs = append(evs, gatewaytest.Event{Name: "ready"})
				continue
			}
			evs = append(evs, gatewaytest.Event{Name: "note", Data: `{"n":"` + n + `"}`})
		}
		return evs
	}

	a := open("request_id=" + prefix + "-a&user=u1&role=admin")
	b := open("request_id=" + prefix + "-b&user=u1&role=viewer")
	for _, st := range []*realgw.Stream{a, b} {
		if diff := cmp.Diff(want("ready"), read(st, 1)); diff != "" {
			t.Fatalf("stream setup (-want +got):\n%s", diff)
		}
	}
	steps := []struct {
		name    string
		publish func() error
	}{
		{"connection", func() error { return pub.PublishToConnection(ctx, prefix+"-a", ev("connection")) }},
		{"subject", func() error { return pub.PublishToSubject(ctx, "u1", ev("subject")) }},
		{"role", func() error { return pub.PublishToRole(ctx, "admin", ev("role")) }},
		{"broadcast", func() error { return pub.Broadcast(ctx, ev("broadcast")) }},
	}
	for _, s := range steps {
		if err := s.publish(); err != nil {
			t.Fatalf("publish %s: %v", s.name, err)
		}
	}
	if diff := cmp.Diff(want("connection", "subject", "role", "broadcast"), read(a, 4)); diff != "" {
		t.Errorf("browser a (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want("subject", "broadcast"), read(b, 2)); diff != "" {
		t.Errorf("browser b (-want +got):\n%s", diff)
	}

	// Browser b goes away; what is published meanwhile waits in its queue.
	b.Close()
	select {
	case id := <-svc.discs:
		if id != prefix+"-b" {
			t.Fatalf("disconnect of %q, want %q", id, prefix+"-b")
		}
	case <-ctx.Done():
		t.Fatal("no disconnect callback for browser b")
	}
	if err := pub.PublishToConnection(ctx, prefix+"-b", ev("while away")); err != nil {
		t.Fatal(err)
	}
	back := open("request_id=" + prefix + "-b&user=u1&role=viewer")
	if diff := cmp.Diff(want("while away", "ready"), read(back, 2)); diff != "" {
		t.Errorf("browser b back (-want +got):\n%s", diff)
	}
}
