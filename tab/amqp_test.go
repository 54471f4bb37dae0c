package tab_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/bus"
	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/conntest"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/tab"
)

// fakeGateway records what a hub asks of a gateway in AMQP mode.
type fakeGateway struct {
	mu    sync.Mutex
	calls []string
}

func (g *fakeGateway) Keep(_ context.Context, rid string, keys []string) (bus.QueueState, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "keep "+rid+" "+fmtKeys(keys))
	return bus.QueueState{}, nil
}

func (g *fakeGateway) Publish(_ context.Context, key string, ev sseconn.Event) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls = append(g.calls, "publish "+key+" "+ev.Data)
	return nil
}

func fmtKeys(keys []string) string { return "[" + strings.Join(keys, " ") + "]" }

// TestAMQPConnectAnswerAndKeys checks the connect answer of AMQP mode (the
// tab's key as request id, its bindings) and the routing key of each
// audience.
func TestAMQPConnectAnswerAndKeys(t *testing.T) {
	g := &fakeGateway{}
	conn := conntest.New()
	h, err := tab.New(conn, tab.WithGateway(g), tab.WithSubject(headerSubject))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	key := tab.Key("tab-1", "alice")
	sub := "subject." + tab.SubjectKey("alice")
	req := &callback.Request{Action: "connect", Token: "tok", Identifier: "tab:tab-1",
		URL: &url.URL{Path: tab.DefaultPath}, Header: map[string][]string{"User": {"alice"}}}
	resp, err := h.Connect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := &callback.ConnectResponse{RequestID: key,
		Bindings: []string{"connection." + key, "broadcast", sub}, Subject: tab.SubjectKey("alice")}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("connect answer (-want +got):\n%s", diff)
	}
	ctx := context.Background()
	for _, aud := range []tab.Audience{tab.To("tab-1", "alice"), tab.ToSubject("alice"), tab.Broadcast()} {
		if err := h.Send(ctx, aud, sseconn.Event{Name: "x", Data: `"` + aud.String() + `"`}); err != nil {
			t.Fatalf("Send %s: %v", aud, err)
		}
	}
	g.mu.Lock()
	got := slices.Clone(g.calls)
	g.mu.Unlock()
	wantCalls := []string{
		"keep " + key + " [connection." + key + " broadcast " + sub + "]",
		"keep " + key + " [connection." + key + " broadcast " + sub + "]",
		"publish connection." + key + ` "tab tab-1"`,
		"publish " + sub + ` "subject"`,
		`publish broadcast "broadcast"`,
	}
	if diff := cmp.Diff(wantCalls, got); diff != "" {
		t.Errorf("gateway calls (-want +got):\n%s", diff)
	}
	// Another user claiming the request id binds another key.
	req.Header = map[string][]string{"User": {"mallory"}}
	resp, err = h.Connect(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.RequestID == key || slices.Contains(resp.Bindings, "connection."+key) || slices.Contains(resp.Bindings, sub) {
		t.Errorf("mallory's answer %+v binds alice's keys", resp)
	}
}
