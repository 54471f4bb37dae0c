package amqptest_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn/amqp/amqptest"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 10 * time.Second

// fixture is a gateway in AMQP mode in front of a backend that answers
// every connect with the request_id of the stream URL's query, bound with
// connection.<request_id> (none: an empty answer), and a direct broker
// connection for the test.
type fixture struct {
	gw     *gatewaytest.Server
	ch     *amqp091.Channel
	prefix string
	ttl    time.Duration

	mu     sync.Mutex
	tokens map[string]string // request_id -> token
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	broker := testenv.Require(t, testenv.RabbitMQ)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	f := &fixture{prefix: "amqptest-" + hex.EncodeToString(b), ttl: 30 * time.Second, tokens: map[string]string{}}
	backend := httptest.NewServer(http.HandlerFunc(f.callback))
	t.Cleanup(backend.Close)
	f.gw = gatewaytest.NewServer(backend.URL+"/cb",
		amqptest.WithAMQP(broker, f.ttl, amqptest.WithEnvPrefix(f.prefix)))
	t.Cleanup(f.gw.Close)
	conn, err := amqp091.Dial(broker)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if f.ch, err = conn.Channel(); err != nil {
		t.Fatal(err)
	}
	if err := f.ch.Confirm(false); err != nil {
		t.Fatal(err)
	}
	if err := f.ch.ExchangeDeclare(f.exchange(), "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) exchange() string { return f.prefix + ".sse.events" }

func (f *fixture) callback(w http.ResponseWriter, r *http.Request) {
	var cb struct {
		Action  string `json:"action"`
		Token   string `json:"token"`
		Request struct {
			URL string `json:"url"`
		} `json:"request"`
	}
	_ = json.NewDecoder(r.Body).Decode(&cb)
	u, _ := url.Parse(cb.Request.URL)
	rid := u.Query().Get("request_id")
	w.Header().Set("Content-Type", "application/json")
	if cb.Action != "connect" || rid == "" {
		_, _ = w.Write([]byte(`{}`))
		return
	}
	f.mu.Lock()
	f.tokens[rid] = cb.Token
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"request_id": rid, "bindings": []string{"connection." + rid, "broadcast"}})
}

// publish publishes a raw body with key and waits for the confirm.
func (f *fixture) publish(t *testing.T, key, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dc, err := f.ch.PublishWithDeferredConfirmWithContext(ctx, f.exchange(), key, false, false,
		amqp091.Publishing{Body: []byte(body)})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := dc.WaitContext(ctx); !ok || err != nil {
		t.Fatalf("publish not confirmed: %v", err)
	}
}

// read returns the next n events of st, unwrapped.
func read(t *testing.T, st *gatewaytest.Stream, n int) []gatewaytest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []gatewaytest.Event
	for range n {
		ev, err := st.Next(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, ev)
	}
	return got
}

func connect(t *testing.T, gw *gatewaytest.Server, path string) *gatewaytest.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := gw.Connect(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if st.StatusCode != http.StatusOK {
		t.Fatalf("status %d", st.StatusCode)
	}
	return st
}

// Messages that waited in the queue come before ready, framed like
// /internal/send events; unparsable bodies are dropped; live messages and
// /internal/send by token both reach the stream.
func TestWithAMQPStream(t *testing.T) {
	f := newFixture(t)
	// Declared first with the gateway's arguments, as a backend may.
	args := amqp091.Table{"x-expires": int32(f.ttl.Milliseconds())}
	if _, err := f.ch.QueueDeclare("sse.conn."+f.prefix, true, false, false, false, args); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = f.ch.QueueDelete("sse.conn."+f.prefix, false, false, false) })
	if err := f.ch.QueueBind("sse.conn."+f.prefix, "connection."+f.prefix, f.exchange(), false, nil); err != nil {
		t.Fatal(err)
	}
	f.publish(t, "connection."+f.prefix, `{"event":"version","data":"{\"v\":1}"}`)
	f.publish(t, "connection."+f.prefix, `not json`)
	f.publish(t, "connection."+f.prefix, `{"event":"x","data":5}`)
	f.publish(t, "connection."+f.prefix, `{"data":"plain\ntwo lines"}`)
	f.publish(t, "connection."+f.prefix, `{"event_name":"ignored","data":"unnamed"}`)

	st := connect(t, f.gw, "/s?request_id="+f.prefix)
	want := []gatewaytest.Event{
		{Data: `{"type":"version","payload":{"v":1}}`},
		{Data: "plain\ntwo lines"},
		{Data: "unnamed"},
		{Name: "ready"},
	}
	if diff := cmp.Diff(want, read(t, st, len(want))); diff != "" {
		t.Fatalf("queued events (-want +got):\n%s", diff)
	}

	f.publish(t, "broadcast", `{"event":"note","data":"{}"}`)
	if diff := cmp.Diff([]gatewaytest.Event{{Data: `{"type":"note","payload":{}}`}}, read(t, st, 1)); diff != "" {
		t.Fatalf("live event (-want +got):\n%s", diff)
	}

	f.mu.Lock()
	token := f.tokens[f.prefix]
	f.mu.Unlock()
	resp, err := http.Post(f.gw.URL+"/internal/send", "application/json",
		bytes.NewReader([]byte(`{"token":"`+token+`","event":{"data":"by token"}}`)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/internal/send: status %d", resp.StatusCode)
	}
	if diff := cmp.Diff([]gatewaytest.Event{{Data: "by token"}}, read(t, st, 1)); diff != "" {
		t.Fatalf("sent event (-want +got):\n%s", diff)
	}
}

// The gateway's queue has exactly the documented arguments: a redeclare
// with them succeeds, one with another TTL fails.
func TestWithAMQPQueueArguments(t *testing.T) {
	f := newFixture(t)
	st := connect(t, f.gw, "/s?request_id="+f.prefix)
	if diff := cmp.Diff([]gatewaytest.Event{{Name: "ready"}}, read(t, st, 1)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	t.Cleanup(func() { _, _ = f.ch.QueueDelete("sse.conn."+f.prefix, false, false, false) })
	q, err := f.ch.QueueDeclare("sse.conn."+f.prefix, true, false, false, false,
		amqp091.Table{"x-expires": int32(f.ttl.Milliseconds())})
	if err != nil {
		t.Fatalf("redeclare with the gateway's arguments: %v", err)
	}
	if q.Consumers != 1 {
		t.Errorf("consumers %d, want 1", q.Consumers)
	}
	_, err = f.ch.QueueDeclare("sse.conn."+f.prefix, true, false, false, false,
		amqp091.Table{"x-expires": int32(1000)})
	var aerr *amqp091.Error
	if !errors.As(err, &aerr) || aerr.Code != amqp091.PreconditionFailed {
		t.Errorf("redeclare with another TTL: %v, want PRECONDITION_FAILED", err)
	}
}

// A connect answer without request_id and bindings is HTTP-only mode.
func TestWithAMQPHTTPOnlyAnswer(t *testing.T) {
	f := newFixture(t)
	st := connect(t, f.gw, "/s")
	if diff := cmp.Diff([]gatewaytest.Event{{Name: "ready"}}, read(t, st, 1)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}
