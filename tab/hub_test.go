package tab_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/conntest"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
)

func ev(n int) sseconn.Event {
	return sseconn.Event{Name: "task_event", Data: `{"n":` + string(rune('0'+n)) + `}`}
}

// dropped returns ssegate.tab.dropped by reason.
func dropped(t *testing.T, r *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "ssegate.tab.dropped" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				reason, _ := dp.Attributes.Value("reason")
				out[reason.AsString()] = dp.Value
			}
		}
	}
	return out
}

// connect opens the stream of tab rid for subject (through a hub made
// WithSubject(header "user")) with token.
func connect(t *testing.T, h *tab.Hub, rid, user, token string) {
	t.Helper()
	req := &callback.Request{Action: "connect", Token: token, Identifier: "tab:" + rid,
		URL: &url.URL{Path: tab.DefaultPath}, Header: map[string][]string{"User": {user}}}
	if _, err := h.Connect(context.Background(), req); err != nil {
		t.Fatalf("Connect(%s): %v", rid, err)
	}
}

func headerSubject(req *callback.Request) (string, error) { return req.Header.Get("User"), nil }

func TestNewInvalidConfig(t *testing.T) {
	_, err := tab.New(nil, tab.WithPendingLimit(-1), tab.WithMaxTabs(-1), tab.WithTTL(-time.Second),
		tab.WithSendTimeout(-time.Second), tab.WithSubject(nil), tab.WithPath("no-slash", ""))
	if !errors.Is(err, tab.ErrInvalidConfig) {
		t.Fatalf("New: %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"nil Conn", "WithPendingLimit", "WithMaxTabs", "WithTTL", "WithSendTimeout", "WithSubject", "WithPath"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %s", err, want)
		}
	}
}

func TestSendInvalid(t *testing.T) {
	h, err := tab.New(conntest.New())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	for name, aud := range map[string]tab.Audience{
		"zero":          {},
		"empty subject": tab.ToSubject(""),
		"empty rid":     tab.To("", "alice"),
		"colon":         tab.To("a:b", ""),
		"long subject":  tab.ToSubject(strings.Repeat("x", 2000)),
	} {
		if err := h.Send(ctx, aud, ev(1)); !errors.Is(err, tab.ErrInvalidAudience) {
			t.Errorf("%s: Send: %v, want ErrInvalidAudience", name, err)
		}
	}
	if err := h.Send(ctx, tab.Broadcast(), sseconn.Event{Name: "x", Data: "not json"}); !errors.Is(err, sseconn.ErrInvalidEvent) {
		t.Errorf("Send of invalid event: %v, want sseconn.ErrInvalidEvent", err)
	}
	h.Close()
	if err := h.Send(ctx, tab.Broadcast(), ev(1)); !errors.Is(err, tab.ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
}

// TestPendingLimit keeps the newest events of a tab that is not connected,
// counts the ones pushed out, and delivers the rest in order on connect.
func TestPendingLimit(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	conn := conntest.New()
	h, err := tab.New(conn, tab.WithPendingLimit(3), tab.WithSubject(headerSubject),
		tab.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for i := range 5 {
		if err := h.Send(context.Background(), tab.To("t1", "alice"), ev(i)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	if n := h.Pending("t1", "alice"); n != 3 {
		t.Errorf("Pending = %d, want 3", n)
	}
	if n := h.Pending("t1", "bob"); n != 0 {
		t.Errorf("Pending of bob's t1 = %d, want 0", n)
	}
	if got := dropped(t, reader); got["limit"] != 2 {
		t.Errorf("dropped = %v, want limit=2", got)
	}
	connect(t, h, "t1", "alice", "tok-1")
	got := conn.WaitCount(t, "tok-1", 3)
	for i, s := range got {
		if want := ev(i + 2); s.Event != want {
			t.Errorf("event %d = %v, want %v", i, s.Event, want)
		}
	}
	if ident, _ := conn.Token("tab:" + tab.Key("t1", "alice")); ident != "tok-1" {
		t.Errorf("registered token %q under the tab's key, want tok-1", ident)
	}
}

// TestMaxTabs forgets the tab disconnected longest ago for a new one, and
// refuses an event for a new tab when every tab kept is connected.
func TestMaxTabs(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	conn := conntest.New()
	conn.SetHook(func(ctx context.Context, _ string, _ sseconn.Event) error {
		<-ctx.Done() // never delivered, so that Pending stays
		return ctx.Err()
	})
	h, err := tab.New(conn, tab.WithMaxTabs(1), tab.WithSendTimeout(time.Millisecond),
		tab.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	if err := h.Send(ctx, tab.To("old", ""), ev(1)); err != nil {
		t.Fatal(err)
	}
	if err := h.Send(ctx, tab.To("new", ""), ev(2)); err != nil {
		t.Fatal(err)
	}
	if h.Pending("old", "") != 0 || h.Pending("new", "") != 1 {
		t.Errorf("Pending old %d new %d, want 0 and 1", h.Pending("old", ""), h.Pending("new", ""))
	}
	connect(t, h, "new", "", "tok-new")
	err = h.Send(ctx, tab.To("third", ""), ev(3))
	if !errors.Is(err, tab.ErrDropped) {
		t.Errorf("Send to a third tab: %v, want ErrDropped", err)
	}
	if got := dropped(t, reader); got["evicted"] != 1 || got["full"] != 1 {
		t.Errorf("dropped = %v, want evicted=1 full=1", got)
	}
}

// TestTTL forgets a tab that has not been connected for the TTL.
func TestTTL(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	reader := sdkmetric.NewManualReader()
	h, err := tab.New(conntest.New(), tab.WithTTL(time.Minute), tab.WithClock(clock),
		tab.WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	if err := h.Send(ctx, tab.To("t", ""), ev(1)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if err := h.Send(ctx, tab.Broadcast(), ev(2)); err != nil {
		t.Fatal(err)
	}
	if n := h.Pending("t", ""); n != 0 {
		t.Errorf("Pending after the TTL = %d, want 0", n)
	}
	if got := dropped(t, reader); got["expired"] != 1 {
		t.Errorf("dropped = %v, want expired=1", got)
	}
}

// TestSubjectBeforeAnyTab keeps an event for a subject without tabs for
// its next tab.
func TestSubjectBeforeAnyTab(t *testing.T) {
	conn := conntest.New()
	h, err := tab.New(conn, tab.WithSubject(headerSubject))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Send(context.Background(), tab.ToSubject("alice"), ev(7)); err != nil {
		t.Fatal(err)
	}
	connect(t, h, "other", "bob", "tok-bob")
	connect(t, h, "t", "alice", "tok-alice")
	if got := conn.WaitCount(t, "tok-alice", 1); got[0].Event != ev(7) {
		t.Errorf("alice's tab got %v, want the subject's event", got)
	}
	if got := conn.ToToken("tok-bob"); len(got) != 0 {
		t.Errorf("bob's tab got %v, want nothing", got)
	}
}

func TestKey(t *testing.T) {
	a, b := tab.Key("r", "alice"), tab.Key("r", "bob")
	if a == b || len(a) != 32 || a != tab.Key("r", "alice") || tab.Key("r", "") == a {
		t.Errorf("Key: alice %q bob %q; want stable, 32 hex digits, different per subject", a, b)
	}
	if tab.Key("ab", "c") == tab.Key("a", "bc") {
		t.Error("Key must separate subject and request id")
	}
}

// TestStartFor checks the runner's For option.
func TestStartFor(t *testing.T) {
	conn := conntest.New()
	r, err := task.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	fn := func(context.Context, *task.Progress) (any, error) { return nil, nil }
	if _, err := r.Start(context.Background(), fn, task.For(tab.Broadcast())); !errors.Is(err, task.ErrNoTabs) {
		t.Errorf("Start For without WithTabs: %v, want ErrNoTabs", err)
	}
	h, err := tab.New(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r2, err := task.New(conn, task.WithTabs(h))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r2.Shutdown(context.Background()) }()
	if _, err := r2.Start(context.Background(), fn, task.For(tab.Audience{})); !errors.Is(err, tab.ErrInvalidAudience) {
		t.Errorf("Start For the zero audience: %v, want ErrInvalidAudience", err)
	}
}

// TestReconnectDuringSend reconnects a tab while an event is being sent to
// its old stream: the send succeeds there, so the new stream gets the
// greeting and later events, not that event again.
func TestReconnectDuringSend(t *testing.T) {
	conn := conntest.New()
	greeting := sseconn.Event{Name: "version", Data: `{"version":"1"}`}
	h, err := tab.New(conn, tab.WithGreeter(func(context.Context) ([]sseconn.Event, error) {
		return []sseconn.Event{greeting}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	inflight, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	conn.SetHook(func(_ context.Context, _ string, e sseconn.Event) error {
		if e == ev(1) {
			once.Do(func() {
				close(inflight)
				<-release
			})
		}
		return nil
	})
	ctx := context.Background()
	if err := h.Send(ctx, tab.To("t", ""), ev(1)); err != nil {
		t.Fatal(err)
	}
	connect(t, h, "t", "", "tok-1")
	<-inflight
	connect(t, h, "t", "", "tok-2")
	close(release)
	if err := h.Send(ctx, tab.To("t", ""), ev(2)); err != nil {
		t.Fatal(err)
	}
	got := conn.WaitCount(t, "tok-2", 2)
	if len(got) != 2 || got[0].Event != greeting || got[1].Event != ev(2) {
		t.Errorf("the new stream got %v, want the greeting and event 2", got)
	}
	if old := conn.ToToken("tok-1"); len(old) != 2 || old[1].Event != ev(1) {
		t.Errorf("the old stream got %v, want the greeting and event 1", old)
	}
}
