package amqp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
	"github.com/ssegate/ssegate/sseconn/amqp/amqptest"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

// scaleTimeout bounds each wait of the scale-out tests.
const scaleTimeout = 20 * time.Second

const scaleSecret = "s3cr3t"

// cluster is a backend of several replicas behind one gateway, either
// gatewaytest in process or the reference gateway (generation 2, in AMQP
// mode) as a subprocess: each replica has its own bus (through a proxy of
// its own, so that a test can cut it from the broker), connection manager,
// runner, notifier and callback handler. The gateway's callbacks go to the
// replicas in turn, or to the one pinned.
type cluster struct {
	t        testing.TB
	gw       *gatewaytest.Server // nil with the reference gateway
	ref      *realgw.Gateway     // nil with gatewaytest
	gwURL    string              // the gateway's base URL
	backend  *httptest.Server
	replicas []*replica
	prefix   string // environment prefix: the test's own exchanges
	turn     atomic.Int64
	pinned   atomic.Int64 // replica index + 1; 0: round robin
	once     sync.Once

	mu   sync.Mutex // guards rids
	rids []string   // request ids handed out by rid: their queues go with the test
}

type replica struct {
	proxy    *proxy
	bus      *amqp.Bus
	conns    *sseconn.Manager
	runner   *task.Runner
	notifier *version.Notifier
	cb       *callback.Handler
	src      *fixedSource
}

// fixedSource is a version.Source that answers one version.
type fixedSource struct{ v atomic.Value }

func (s *fixedSource) Current(context.Context) (version.Info, error) {
	return version.Info{Version: s.v.Load().(string)}, nil
}

type clusterConfig struct {
	replicas  int
	taskOpts  []task.Option
	gwOpts    []gatewaytest.Option
	amqpGW    bool // the gateway in AMQP mode
	reference bool // the reference gateway, generation 2, in AMQP mode, instead of gatewaytest
	queueTTL  time.Duration
	busOpts   []amqp.Option
	sharedBus bool // every replica through one proxy
}

// newCluster starts a cluster; it is torn down at the end of the test.
func newCluster(t testing.TB, cc clusterConfig) *cluster {
	t.Helper()
	url := testenv.Require(t, testenv.RabbitMQ)
	var refDir string
	if cc.reference {
		refDir = realgw.Dir(t, 2) // skips or fails before anything starts
	}
	c := &cluster{t: t, prefix: uniqueName(t)}
	if cc.queueTTL == 0 {
		cc.queueTTL = 30 * time.Second // leftovers of the test go soon
	}
	// Cleanups run last first: the replicas stop, then the gateway, then
	// the test's names are removed from the broker.
	t.Cleanup(func() { c.removeBrokerNames(url) })
	c.backend = httptest.NewServer(http.HandlerFunc(c.route))
	t.Cleanup(c.backend.Close) // also closed by c.close; twice is harmless
	callbackURL := c.backend.URL + "/api/sse/callback?secret=" + scaleSecret
	if cc.reference {
		c.ref = realgw.Start(t, refDir, realgw.Config{
			CallbackURL: callbackURL,
			RabbitMQURL: url,
			QueueTTL:    cc.queueTTL,
			EnvPrefix:   c.prefix,
		})
		c.gwURL = c.ref.URL
	} else {
		gwOpts := append([]gatewaytest.Option{gatewaytest.WithGeneration(2)}, cc.gwOpts...)
		if cc.amqpGW {
			gwOpts = append(gwOpts, gatewayAMQP(url, c.prefix, cc.queueTTL))
		}
		c.gw = gatewaytest.NewServer(callbackURL, gwOpts...)
		c.gwURL = c.gw.URL
	}
	t.Cleanup(func() { c.close() })

	var shared *proxy
	var sharedURL string
	if cc.sharedBus {
		shared, sharedURL = newProxy(t, url)
	}
	for i := range cc.replicas {
		r := &replica{src: &fixedSource{}}
		r.src.v.Store("1.0.0")
		burl := sharedURL
		r.proxy = shared
		if !cc.sharedBus {
			r.proxy, burl = newProxy(t, url)
		}
		opts := append([]amqp.Option{amqp.WithEnvPrefix(c.prefix), amqp.WithQueueTTL(cc.queueTTL),
			amqp.WithBackoff(50*time.Millisecond, 200*time.Millisecond)}, cc.busOpts...)
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
		r.bus, err = amqp.NewBus(ctx, burl, opts...)
		cancel()
		if err != nil {
			t.Fatalf("replica %d: NewBus: %v", i, err)
		}
		if r.conns, err = sseconn.New(c.gwURL); err != nil {
			t.Fatalf("replica %d: sseconn.New: %v", i, err)
		}
		topts := append([]task.Option{task.WithBus(r.bus)}, cc.taskOpts...)
		if r.runner, err = task.New(r.conns, topts...); err != nil {
			t.Fatalf("replica %d: task.New: %v", i, err)
		}
		if r.notifier, err = version.New(r.conns, r.src, version.WithGateway(r.bus.Gateway())); err != nil {
			t.Fatalf("replica %d: version.New: %v", i, err)
		}
		r.cb, err = callback.NewHandler(callback.WithSecret(scaleSecret),
			callback.WithRoute(r.runner.Matcher(), r.runner),
			callback.WithRoute(r.notifier.Matcher(), r.notifier))
		if err != nil {
			t.Fatalf("replica %d: callback.NewHandler: %v", i, err)
		}
		c.replicas = append(c.replicas, r)
	}
	return c
}

// route hands a callback to the pinned replica, or to the next in turn.
func (c *cluster) route(w http.ResponseWriter, r *http.Request) {
	i := int(c.pinned.Load()) - 1
	if i < 0 {
		i = int(c.turn.Add(1)-1) % len(c.replicas)
	}
	c.replicas[i].cb.ServeHTTP(w, r)
}

// pin sends every callback to replica i; -1 restores the round robin.
func (c *cluster) pin(i int) { c.pinned.Store(int64(i + 1)) }

// close shuts everything down in order.
func (c *cluster) close() {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
		defer cancel()
		for i, r := range c.replicas {
			if err := r.runner.Shutdown(ctx); err != nil {
				c.t.Errorf("replica %d: runner.Shutdown: %v", i, err)
			}
		}
		for _, r := range c.replicas {
			_ = r.cb.Shutdown(ctx)
		}
		if c.gw != nil {
			c.gw.Close()
		}
		for _, r := range c.replicas {
			_ = r.conns.Shutdown(ctx)
			_ = r.bus.Close()
		}
		c.backend.Close()
	})
}

// removeBrokerNames deletes what the test left on the broker: the queues
// of the request ids it handed out and its two exchanges. The replicas'
// own queues are exclusive and went with their connections.
func (c *cluster) removeBrokerNames(url string) {
	conn, err := amqp091.Dial(url)
	if err != nil {
		c.t.Logf("remove the test's queues: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		c.t.Logf("remove the test's queues: %v", err)
		return
	}
	c.mu.Lock()
	rids := c.rids
	c.mu.Unlock()
	for _, rid := range rids {
		if _, err := ch.QueueDelete("sse.conn."+rid, false, false, false); err != nil {
			c.t.Logf("delete queue sse.conn.%s: %v", rid, err)
			return // the error closed the channel
		}
	}
	for _, name := range []string{c.prefix + ".sse.events", c.prefix + ".ssegate.replicas"} {
		if err := ch.ExchangeDelete(name, false, false); err != nil {
			c.t.Logf("delete exchange %s: %v", name, err)
			return
		}
	}
}

// gatewayAMQP returns the option that puts the gateway in AMQP mode.
func gatewayAMQP(url, prefix string, ttl time.Duration) gatewaytest.Option {
	return amqptest.WithAMQP(url, ttl, amqptest.WithEnvPrefix(prefix))
}

// browserStream is one browser stream as a test reads it: a
// *gatewaytest.Stream or a *realgw.Stream.
type browserStream interface {
	Next(ctx context.Context) (gatewaytest.Event, error)
	Close()
}

// stream is a browser's stream of task events.
type stream struct {
	t  testing.TB
	st browserStream
}

// open opens streamURL on the gateway.
func (c *cluster) open(streamURL string) (*stream, error) {
	if c.ref != nil {
		return c.openReference(streamURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	st, err := c.gw.Connect(ctx, streamURL, nil)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", streamURL, err)
	}
	c.t.Cleanup(st.Close)
	if st.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("connect %s: status %d, body %s", streamURL, st.StatusCode, st.Body())
	}
	return &stream{t: c.t, st: st}, nil
}

// openReference opens streamURL on the reference gateway, as a browser's
// EventSource does.
func (c *cluster) openReference(streamURL string) (*stream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(scaleTimeout, cancel) // bounds the connect only
	st, err := realgw.Open(ctx, c.gwURL+streamURL, nil)
	if fired := !timer.Stop(); fired || err != nil {
		if err == nil { // the answer came as the timer fired: the stream is cut
			st.Close()
			err = context.DeadlineExceeded
		}
		cancel()
		return nil, fmt.Errorf("connect %s: %w", streamURL, err)
	}
	c.t.Cleanup(func() { st.Close(); cancel() })
	if !st.IsEventStream() {
		return nil, fmt.Errorf("connect %s: status %d, body %s", streamURL, st.StatusCode, st.Body())
	}
	return &stream{t: c.t, st: st}, nil
}

func (c *cluster) mustOpen(streamURL string) *stream {
	c.t.Helper()
	s, err := c.open(streamURL)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// next returns the next task event, rendered like
// `progress_update {"text":"a","value":0.5}`, or io.EOF.
func (s *stream) next() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	for {
		ev, err := s.st.Next(ctx)
		if err != nil {
			return "", err
		}
		ev = ev.Unwrap()
		if ev.Name == "ready" {
			continue
		}
		if ev.Name != task.EventName {
			return "", fmt.Errorf("event %q with data %q, want %q", ev.Name, ev.Data, task.EventName)
		}
		var m task.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			return "", fmt.Errorf("event data %q: %w", ev.Data, err)
		}
		return m.EventType + " " + string(m.Data), nil
	}
}

func (s *stream) expect(want ...string) {
	s.t.Helper()
	got := make([]string, 0, len(want))
	for range want {
		line, err := s.next()
		if err != nil {
			s.t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, line)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		s.t.Fatalf("events (-want +got):\n%s", diff)
	}
}

func (s *stream) expectEOF() {
	s.t.Helper()
	if line, err := s.next(); !errors.Is(err, io.EOF) {
		s.t.Fatalf("after the last event: %q, %v; want io.EOF", line, err)
	}
}

// all reads every event until the stream ends.
func (s *stream) all() ([]string, error) {
	var got []string
	for {
		line, err := s.next()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("after %q: %w", got, err)
		}
		got = append(got, line)
	}
}

const (
	evStarted      = `task_started {}`
	closeCompleted = `connection_close {"reason":"task_completed"}`
)

func progressLine(text string, v float64) string {
	return fmt.Sprintf(`progress_update {"text":%q,"value":%v}`, text, v)
}

// stepper is a controllable task function: every Update sent on steps is
// reported and then acknowledged; closing steps returns result.
type stepper struct {
	steps  chan task.Update
	acks   chan struct{}
	result any
}

func newStepper(result any) *stepper {
	return &stepper{steps: make(chan task.Update), acks: make(chan struct{}), result: result}
}

func (s *stepper) fn(ctx context.Context, p *task.Progress) (any, error) {
	for {
		select {
		case u, ok := <-s.steps:
			if !ok {
				return s.result, nil
			}
			p.Report(u.Text, u.Value)
			s.acks <- struct{}{}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *stepper) step(t testing.TB, text string, v float64) {
	t.Helper()
	timer := time.NewTimer(scaleTimeout)
	defer timer.Stop()
	select {
	case s.steps <- task.Update{Text: text, Value: v}:
	case <-timer.C:
		t.Fatal("task did not take its step")
	}
	<-s.acks
}

func startTask(t testing.TB, r *task.Runner, fn task.Func) task.Info {
	t.Helper()
	info, err := r.Start(context.Background(), fn)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return info
}

func waitTask(t testing.TB, r *task.Runner, id string) task.Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	info, err := r.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return info
}

// checkFinal checks a final view: task_started, progress never decreasing,
// task_completed with want, then connection_close.
func checkFinal(want string, view []string) error {
	n := len(view)
	if n < 3 || view[0] != evStarted || view[n-2] != "task_completed "+want || view[n-1] != closeCompleted {
		return fmt.Errorf("view %q", view)
	}
	last := task.Update{Value: -1}
	for _, line := range view[1 : n-2] {
		data, ok := strings.CutPrefix(line, task.TypeProgress+" ")
		var u task.Update
		if !ok || json.Unmarshal([]byte(data), &u) != nil {
			return fmt.Errorf("unexpected %q in view %q", line, view)
		}
		if u.Value < last.Value {
			return fmt.Errorf("%v after %v in view %q", u, last, view)
		}
		last = u
	}
	return nil
}
