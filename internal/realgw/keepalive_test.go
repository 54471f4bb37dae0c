package realgw_test

import (
	"context"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn"
)

// gatewayIdle is the reference gateway's keep-alive timeout: Node.js closes
// a connection idle for 5 s (docs/protocol.md section 3).
const gatewayIdle = 5 * time.Second

// TestRealGatewayKeepAlive is fault 5 of issue 12 against the reference
// gateway: a send after more than the gateway's keep-alive timeout of
// idleness succeeds. The proxy between the manager and the gateway holds
// back the gateway's close of the idle connection, so a manager that reused
// that connection would fail every time rather than in a narrow race.
func TestRealGatewayKeepAlive(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		b := newBackend(t, dir, gen, backendConfig{proxy: true})
		ctx := context.Background()
		st := b.open(t, usersPath+"idle")
		expectEvents(t, st, ready(gen)...)
		first := sseconn.Event{Name: "tick", Data: `{"n":1}`}
		if err := b.mgr.Send(ctx, "user:idle", first); err != nil {
			t.Fatal(err)
		}
		idle := time.After(gatewayIdle + 500*time.Millisecond)
		expectEvents(t, st, framed(gen, first))
		wctx, cancel := context.WithTimeout(ctx, 3*gatewayIdle)
		defer cancel()
		if err := b.px.WaitEnded(wctx, 1); err != nil {
			t.Fatalf("the idle connection never ended: %v", err)
		}
		<-idle // the pause itself is the scenario
		second := sseconn.Event{Name: "tick", Data: `{"n":2}`}
		if err := b.mgr.Send(ctx, "user:idle", second); err != nil {
			t.Fatalf("send after a pause of more than %v: %v (requests written onto a closed connection: %d)", gatewayIdle, err, b.px.Lost())
		}
		expectEvents(t, st, framed(gen, second))
		if got := b.px.Opened(); got != 2 {
			t.Errorf("%d connections opened, want 2", got)
		}
	})
}
