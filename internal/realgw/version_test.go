package realgw_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/version"
)

// versionEvent is what a browser of generation gen receives for info.
func versionEvent(gen int, v string) gatewaytest.Event {
	data := `{"version":"` + v + `"}`
	if gen >= 2 {
		return gatewaytest.Event{Data: `{"type":"version","payload":` + data + `}`}
	}
	return gatewaytest.Event{Name: version.EventName, Data: data}
}

// TestRealGatewayVersion notifies browsers through the reference gateway:
// events pending before the browser connects are flushed in order on
// connect, a live Notify arrives at once, and Broadcast reaches every
// connected browser.
func TestRealGatewayVersion(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		b := newBackend(t, dir, gen, backendConfig{})
		ctx := context.Background()
		path := func(id string) string { return version.DefaultPath + "?request_id=" + id }

		for _, v := range []string{"1.1.0", "1.2.0"} {
			d, err := b.notifier.Notify(ctx, "r1", version.Info{Version: v})
			if err != nil || d.Status != version.Pending {
				t.Fatalf("Notify(%s) before connect = %+v, %v; want Pending", v, d, err)
			}
		}
		r1 := b.open(t, path("r1"))
		want := []gatewaytest.Event{versionEvent(gen, "1.1.0"), versionEvent(gen, "1.2.0")}
		want = append(want, ready(gen)...)
		expectEvents(t, r1, want...)

		d, err := b.notifier.Notify(ctx, "r1", version.Info{Version: "1.3.0"})
		if err != nil || d.Status != version.Delivered {
			t.Fatalf("live Notify = %+v, %v; want Delivered", d, err)
		}
		expectEvents(t, r1, versionEvent(gen, "1.3.0"))

		// A browser with nothing pending gets the current version.
		r2 := b.open(t, path("r2"))
		expectEvents(t, r2, append([]gatewaytest.Event{versionEvent(gen, "1.0.0")}, ready(gen)...)...)

		deliveries, err := b.notifier.Broadcast(ctx, version.Info{Version: "2.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]version.Status{}
		for _, d := range deliveries {
			got[d.RequestID] = d.Status
		}
		if diff := cmp.Diff(map[string]version.Status{"r1": version.Delivered, "r2": version.Delivered}, got); diff != "" {
			t.Fatalf("Broadcast deliveries (-want +got):\n%s", diff)
		}
		expectEvents(t, r1, versionEvent(gen, "2.0.0"))
		expectEvents(t, r2, versionEvent(gen, "2.0.0"))
	})
}
