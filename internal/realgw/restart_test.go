package realgw_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn"
)

// TestRealGatewayRestart kills the gateway and starts it again on the same
// port: it has forgotten every stream, so a send answers ErrGone and Sweep
// drops the other mappings. No disconnect callback comes.
func TestRealGatewayRestart(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		b := newBackend(t, dir, gen, backendConfig{})
		ctx := context.Background()
		ids := []string{"a", "b", "c"}
		for _, id := range ids {
			expectEvents(t, b.open(t, usersPath+id), ready(gen)...)
		}
		b.gw.Restart()
		err := b.mgr.Send(ctx, "user:a", sseconn.Event{Data: "after the restart"})
		if !errors.Is(err, sseconn.ErrGone) {
			t.Fatalf("Send after restart = %v, want ErrGone", err)
		}
		removed, err := b.mgr.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"user:b", "user:c"}, removed); diff != "" {
			t.Fatalf("Sweep removed (-want +got):\n%s", diff)
		}
		if n := b.mgr.Len(); n != 0 {
			t.Fatalf("%d mappings left, want 0", n)
		}
		// The restarted gateway serves new browsers.
		st := b.open(t, usersPath+"a")
		expectEvents(t, st, ready(gen)...)
		ev := sseconn.Event{Name: "back", Data: `{}`}
		if err := b.mgr.Send(ctx, "user:a", ev); err != nil {
			t.Fatal(err)
		}
		expectEvents(t, st, framed(gen, ev))
	})
}
