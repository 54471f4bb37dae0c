package realgw_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TestRealGatewayLoad opens 50 browsers at once and sends 40 events to
// each, sequentially per browser and all browsers in parallel: every event
// arrives, in order, and the manager's keep-alive pool keeps the number of
// TCP connections it opens to the gateway near its size.
func TestRealGatewayLoad(t *testing.T) {
	t.Parallel()
	const browsers, events = 50, 40
	// maxConns is the default transport's MaxIdleConnsPerHost: with 50
	// senders at once, the pool never needs more connections than that.
	const maxConns = 64
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		// A send that times out may still be written later, after the
		// sends behind it (the gateway serves each connection on its own),
		// so the timeout is long enough for a loaded machine.
		b := newBackend(t, dir, gen, backendConfig{proxy: true, mgrOpts: []sseconn.Option{sseconn.WithSendTimeout(4 * waitTimeout)}})
		start := time.Now()
		ctx := context.Background()
		streams := make([]*realgw.Stream, browsers)
		var wg sync.WaitGroup
		for i := range streams {
			wg.Go(func() { streams[i] = b.open(t, fmt.Sprintf("%sload%d", usersPath, i)) })
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		opened := time.Since(start)
		start = time.Now()
		errs := make(chan error, browsers*events)
		got := make([][]gatewaytest.Event, browsers)
		for i := range browsers {
			wg.Go(func() {
				id := fmt.Sprintf("user:load%d", i)
				for n := range events {
					if err := b.mgr.Send(ctx, id, sseconn.Event{Name: "n", Data: fmt.Sprintf(`{"i":%d,"n":%d}`, i, n)}); err != nil {
						errs <- fmt.Errorf("%s event %d: %w", id, n, err)
					}
				}
			})
			wg.Go(func() {
				rctx, cancel := context.WithTimeout(ctx, 4*waitTimeout)
				defer cancel()
				for range len(ready(gen)) + events {
					ev, err := streams[i].Next(rctx)
					if err != nil {
						errs <- fmt.Errorf("browser %d after %d events: %w", i, len(got[i]), err)
						return
					}
					got[i] = append(got[i], ev)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for i := range browsers {
			want := ready(gen)
			for n := range events {
				want = append(want, framed(gen, sseconn.Event{Name: "n", Data: fmt.Sprintf(`{"i":%d,"n":%d}`, i, n)}))
			}
			if diff := cmp.Diff(want, got[i], cmpEmpty); diff != "" {
				t.Fatalf("browser %d (-want +got):\n%s", i, diff)
			}
		}
		if n := b.px.Opened(); n > maxConns {
			t.Errorf("%d connections opened for %d sends, want at most %d", n, browsers*events, maxConns)
		}
		t.Logf("%d browsers opened in %v; %d sends delivered in %v over %d TCP connections",
			browsers, opened.Round(time.Millisecond), browsers*events, time.Since(start).Round(time.Millisecond), b.px.Opened())
	})
}
