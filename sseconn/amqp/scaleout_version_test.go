package amqp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/version"
)

// versionStream is a browser's version stream.
type versionStream struct{ *stream }

// openVersion opens the version stream of request id rid.
func (c *cluster) openVersion(rid string) versionStream {
	c.t.Helper()
	return versionStream{c.mustOpen("/api/sse/utils/version?request_id=" + rid)}
}

// rid returns a request id of this test only: queue names are global on
// the broker.
// The test's cleanup deletes their queues.
func (c *cluster) rid(name string) string {
	rid := c.prefix + "-" + name
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.rids, rid) {
		c.rids = append(c.rids, rid)
	}
	return rid
}

// next returns "ready" or the version of the next event.
func (v versionStream) next() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	ev, err := v.st.Next(ctx)
	if err != nil {
		return "", err
	}
	ev = ev.Unwrap()
	if ev.Name == "ready" {
		return "ready", nil
	}
	if ev.Name != version.EventName {
		return "", fmt.Errorf("event %q with data %q", ev.Name, ev.Data)
	}
	var info version.Info
	if err := json.Unmarshal([]byte(ev.Data), &info); err != nil {
		return "", fmt.Errorf("event data %q: %w", ev.Data, err)
	}
	return info.Version, nil
}

func (v versionStream) expect(want ...string) {
	v.t.Helper()
	var got []string
	for range want {
		s, err := v.next()
		if err != nil {
			v.t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, s)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		v.t.Fatalf("version events (-want +got):\n%s", diff)
	}
}

func notify(t testing.TB, n *version.Notifier, rid, v string, want version.Status) {
	t.Helper()
	d, err := n.Notify(context.Background(), rid, version.Info{Version: v})
	if err != nil {
		t.Fatalf("Notify(%s, %s): %v", rid, v, err)
	}
	if d.Status != want {
		t.Fatalf("Notify(%s, %s): status %v, want %v", rid, v, d.Status, want)
	}
}

// Notify on A reaches a browser whose connect B handled, exactly once.
func TestScaleOutVersionNotifyAcrossReplicas(t *testing.T) {
	scaleVersionNotifyAcrossReplicas(t, clusterConfig{})
}

// scaleVersionNotifyAcrossReplicas runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleVersionNotifyAcrossReplicas(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW = 2, true
	c := newCluster(t, cc)
	a, b := c.replicas[0], c.replicas[1]
	c.pin(1)
	st := c.openVersion(c.rid("tab-1"))
	st.expect("1.0.0", "ready") // the current version, sent by B's manager
	notify(t, a.notifier, c.rid("tab-1"), "2.0.0", version.Delivered)
	notify(t, a.notifier, c.rid("tab-1"), "2.0.1", version.Delivered)
	// A marker, published after the broker confirmed the notifications: a
	// second copy of either would come before it.
	notify(t, b.notifier, c.rid("tab-1"), "marker", version.Delivered)
	st.expect("2.0.0", "2.0.1", "marker")
}

// Events notified on A before the browser connects wait in its queue and
// are flushed, in order and before ready, when it connects through B; and
// again after a reload.
func TestScaleOutVersionPendingFlush(t *testing.T) {
	scaleVersionPendingFlush(t, clusterConfig{})
}

// scaleVersionPendingFlush runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleVersionPendingFlush(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW = 2, true
	c := newCluster(t, cc)
	a, b := c.replicas[0], c.replicas[1]
	notify(t, a.notifier, c.rid("tab-2"), "2.0.0", version.Pending)
	notify(t, b.notifier, c.rid("tab-2"), "2.1.0", version.Pending)
	notify(t, a.notifier, c.rid("tab-2"), "2.2.0", version.Pending)
	c.pin(1)
	st := c.openVersion(c.rid("tab-2"))
	st.expect("2.0.0", "2.1.0", "2.2.0", "ready") // not the current version

	// A reload: the queue outlives the stream for its TTL.
	st.st.Close()
	// A message that reaches the consumer of a stream that is gone is
	// dropped by the gateway: wait until the consumer is cancelled.
	waitFor(t, "the gateway to cancel the stream's consumer", func() bool {
		qs, err := a.bus.Keep(context.Background(), c.rid("tab-2"), nil)
		return err == nil && qs.Consumers == 0
	})
	notify(t, a.notifier, c.rid("tab-2"), "3.0.0", version.Pending)
	c.pin(0)
	again := c.openVersion(c.rid("tab-2"))
	again.expect("3.0.0", "ready")
}

// Broadcast on any replica reaches every connected browser exactly once.
func TestScaleOutVersionBroadcastOnce(t *testing.T) {
	scaleVersionBroadcastOnce(t, clusterConfig{})
}

// scaleVersionBroadcastOnce runs the scenario on the gateway
// that cc chooses, in AMQP mode: gatewaytest, or the reference gateway
// (scaleout_realgw_test.go).
func scaleVersionBroadcastOnce(t *testing.T, cc clusterConfig) {
	cc.replicas, cc.amqpGW = 3, true
	c := newCluster(t, cc)
	var streams []versionStream
	for i := range 6 { // callbacks go to the replicas in turn
		st := c.openVersion(c.rid(fmt.Sprintf("tab-%d", i)))
		st.expect("1.0.0", "ready")
		streams = append(streams, st)
	}
	ds, err := c.replicas[2].notifier.Broadcast(context.Background(), version.Info{Version: "4.0.0"})
	if err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	if len(ds) != 0 {
		t.Errorf("Broadcast in AMQP mode returned %d deliveries, want none", len(ds))
	}
	for i, st := range streams {
		// A marker after the broadcast: a second copy would come before it.
		notify(t, c.replicas[i%3].notifier, c.rid(fmt.Sprintf("tab-%d", i)), "marker", version.Delivered)
		st.expect("4.0.0", "marker")
	}
}

// A request id that would be a wildcard binding is refused.
func TestScaleOutVersionRequestIDChecked(t *testing.T) {
	c := newCluster(t, clusterConfig{replicas: 1, amqpGW: true})
	for _, rid := range []string{"a.b", "#", "a*"} {
		_, err := c.replicas[0].notifier.Notify(context.Background(), rid, version.Info{Version: "1"})
		if err == nil {
			t.Errorf("Notify(%q): no error", rid)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := c.gw.Connect(ctx, "/api/sse/utils/version?request_id=%23", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev, err := st.Next(ctx)
	if err != nil || ev.Name != "rejected" {
		t.Errorf("connect with request_id #: %+v, %v; want a rejected event", ev, err)
	}
}
