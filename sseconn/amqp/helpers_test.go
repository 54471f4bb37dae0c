package amqp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait for something the broker does.
const waitTimeout = 10 * time.Second

// brokerURL returns the URL of the test broker from SSEGATE_AMQP_URL: the
// rabbitmq suite of internal/testenv. Without it the test is skipped, or
// fails where the suite is required (CI=true or SSEGATE_REQUIRE_RABBITMQ=1).
func brokerURL(t testing.TB) string {
	t.Helper()
	return testenv.Require(t, testenv.RabbitMQ)
}

// uniqueName returns a name no other test run uses.
func uniqueName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "ssegate-test-" + hex.EncodeToString(b)
}

// testCtx returns a context that ends with the test or after waitTimeout.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// env is one test's corner of the broker: an exchange of its own (through
// a unique environment prefix) and a direct connection to declare, bind and
// consume queues the way the gateway does.
type env struct {
	t        testing.TB
	url      string
	prefix   string
	exchange string
	conn     *amqp091.Connection
	ch       *amqp091.Channel
}

func newEnv(t testing.TB) *env {
	t.Helper()
	u := brokerURL(t)
	prefix := uniqueName(t)
	conn, err := amqp091.Dial(u)
	if err != nil {
		t.Fatalf("dial the test broker: %v", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		t.Fatalf("open channel: %v", err)
	}
	e := &env{t: t, url: u, prefix: prefix, exchange: prefix + ".sse.events", conn: conn, ch: ch}
	// Declared exactly as the gateway and the publisher do.
	if err := ch.ExchangeDeclare(e.exchange, "topic", true, false, false, false, nil); err != nil {
		conn.Close()
		t.Fatalf("declare exchange: %v", err)
	}
	t.Cleanup(func() {
		_ = e.channel().ExchangeDelete(e.exchange, false, false)
		conn.Close()
	})
	return e
}

// channel returns a usable channel of the direct connection; a channel
// error (such as a failed passive declare) closes a channel.
func (e *env) channel() *amqp091.Channel {
	e.t.Helper()
	if e.ch.IsClosed() {
		ch, err := e.conn.Channel()
		if err != nil {
			e.t.Fatalf("reopen channel: %v", err)
		}
		e.ch = ch
	}
	return e.ch
}

// dial dials a publisher for the env's exchange and closes it with the test.
func (e *env) dial(opts ...amqp.Option) *amqp.Publisher {
	e.t.Helper()
	return e.dialURL(e.url, opts...)
}

func (e *env) dialURL(u string, opts ...amqp.Option) *amqp.Publisher {
	e.t.Helper()
	opts = append([]amqp.Option{amqp.WithEnvPrefix(e.prefix)}, opts...)
	p, err := amqp.Dial(testCtx(e.t), u, opts...)
	if err != nil {
		e.t.Fatalf("Dial: %v", err)
	}
	e.t.Cleanup(func() { p.Close() })
	return p
}

// id returns a request ID (or subject, or role) unique to the test.
func (e *env) id(name string) string { return e.prefix + "-" + name }

// queue declares the gateway's queue for a request ID, sse.conn.<id>:
// durable, not auto-delete, with x-expires, bound with each key, plus
// extra arguments. It returns the queue name.
func (e *env) queue(requestID string, args amqp091.Table, keys ...string) string {
	e.t.Helper()
	name := "sse.conn." + requestID
	a := amqp091.Table{"x-expires": int32(60_000)}
	for k, v := range args {
		a[k] = v
	}
	if _, err := e.channel().QueueDeclare(name, true, false, false, false, a); err != nil {
		e.t.Fatalf("declare queue: %v", err)
	}
	e.t.Cleanup(func() { _, _ = e.channel().QueueDelete(name, false, false, false) })
	for _, k := range keys {
		if err := e.channel().QueueBind(name, k, e.exchange, false, nil); err != nil {
			e.t.Fatalf("bind queue with %q: %v", k, err)
		}
	}
	return name
}

// count returns the number of ready messages in a queue.
func (e *env) count(queue string) int {
	e.t.Helper()
	q, err := e.channel().QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		e.t.Fatalf("inspect queue: %v", err)
	}
	return q.Messages
}

// consumer consumes a queue on a channel of its own.
type consumer struct {
	t          testing.TB
	deliveries <-chan amqp091.Delivery
}

func (e *env) consume(queue string) *consumer {
	e.t.Helper()
	ch, err := e.conn.Channel()
	if err != nil {
		e.t.Fatalf("open consumer channel: %v", err)
	}
	e.t.Cleanup(func() { ch.Close() })
	d, err := ch.Consume(queue, "", true, false, false, false, nil)
	if err != nil {
		e.t.Fatalf("consume: %v", err)
	}
	return &consumer{t: e.t, deliveries: d}
}

// next returns the next delivery, failing the test after waitTimeout.
func (c *consumer) next() amqp091.Delivery {
	c.t.Helper()
	select {
	case d, ok := <-c.deliveries:
		if !ok {
			c.t.Fatal("consumer channel closed")
		}
		return d
	case <-time.After(waitTimeout):
		c.t.Fatal("no delivery within the timeout")
	}
	return amqp091.Delivery{}
}

// proxy is a TCP proxy between a publisher and the broker whose link can
// be cut (every connection closed, new ones closed at once) and restored.
type proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex // guards down, conns and resumed
	down    bool
	conns   map[net.Conn]struct{}
	resumed chan struct{} // closed unless paused

	// held receives a copy of each chunk of bytes that Pause holds back.
	held chan []byte
}

// newProxy starts a proxy to the host of brokerURL and returns it with the
// URL that goes through it.
func newProxy(t testing.TB, brokerURL string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5672")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{}),
		resumed: make(chan struct{}), held: make(chan []byte, 64)}
	close(p.resumed)
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			b.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.conns[b] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, b)
		go p.pipe(b, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			resumed := p.resumed
			p.mu.Unlock()
			select {
			case <-resumed:
			default:
				select {
				case p.held <- bytes.Clone(buf[:n]):
				default:
				}
				<-resumed
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

// Cut closes every proxied connection and refuses new ones until Restore.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.resumeLocked()
}

// Pause stops forwarding bytes, in both directions, without closing
// anything: the broker seems to hang.
func (p *proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.resumed:
		p.resumed = make(chan struct{})
	default:
	}
}

// waitHeld waits until Pause holds back bytes that contain s.
func (p *proxy) waitHeld(t testing.TB, s string) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case b := <-p.held:
			if bytes.Contains(b, []byte(s)) {
				return
			}
		case <-timer.C:
			t.Fatalf("the proxy held nothing containing %q", s)
		}
	}
}

// Resume forwards the bytes held since Pause and goes on forwarding.
func (p *proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumeLocked()
}

func (p *proxy) resumeLocked() {
	select {
	case <-p.resumed:
	default:
		close(p.resumed)
	}
}

// Restore lets connections through again.
func (p *proxy) Restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// states collects the calls of a state hook.
type states chan bool

func newStates() states { return make(states, 64) }

func (s states) hook(connected bool) {
	select {
	case s <- connected:
	default:
	}
}

// wait waits for the hook to report want.
func (s states) wait(t testing.TB, want bool) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case got := <-s:
			if got == want {
				return
			}
		case <-timer.C:
			t.Fatalf("state hook did not report connected=%v within the timeout", want)
		}
	}
}
