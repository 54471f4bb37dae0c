package realgw_test

import (
	"context"
	"errors"
	"net/http/httptrace"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TestRealGatewayManager drives the connection manager's scenarios end to end
// through the reference gateway, asserting what the browser receives.
func TestRealGatewayManager(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		b := newBackend(t, dir, gen, backendConfig{})
		ctx := context.Background()

		t.Run("send", func(t *testing.T) {
			st := b.open(t, usersPath+"send")
			expectEvents(t, st, ready(gen)...)
			evs := []sseconn.Event{
				{Name: "greeting", Data: `{"hello":"world","n":1}`},
				{Data: "line one\nline two"},
				{Name: "status", Data: `"done"`},
			}
			var want []gatewaytest.Event
			for _, ev := range evs {
				if err := b.mgr.Send(ctx, "user:send", ev); err != nil {
					t.Fatalf("Send(%+v): %v", ev, err)
				}
				want = append(want, framed(gen, ev))
			}
			expectEvents(t, st, want...)
		})

		t.Run("replacement", func(t *testing.T) {
			old := b.open(t, usersPath+"repl")
			expectEvents(t, old, ready(gen)...)
			oldToken, _ := b.mgr.Token("user:repl")
			cur := b.open(t, usersPath+"repl")
			expectEvents(t, cur, ready(gen)...)
			// The replaced stream ends, and its late disconnect leaves
			// the new mapping alone.
			expectEnd(t, old)
			d := b.waitDisconnect(t, "user:repl")
			if diff := cmp.Diff(disconnect{Identifier: "user:repl", Token: oldToken, Reason: "server_closed"}, d); diff != "" {
				t.Fatalf("disconnect (-want +got):\n%s", diff)
			}
			ev := sseconn.Event{Name: "after", Data: `{"ok":true}`}
			if err := b.mgr.Send(ctx, "user:repl", ev); err != nil {
				t.Fatalf("Send after the stale disconnect: %v", err)
			}
			expectEvents(t, cur, framed(gen, ev))
		})

		t.Run("send_and_close", func(t *testing.T) {
			st := b.open(t, usersPath+"bye")
			expectEvents(t, st, ready(gen)...)
			ev := sseconn.Event{Name: "bye", Data: `{"reason":"done"}`}
			if err := b.mgr.SendAndClose(ctx, "user:bye", ev); err != nil {
				t.Fatal(err)
			}
			expectEnd(t, st, framed(gen, ev))
			if d := b.waitDisconnect(t, "user:bye"); d.Reason != "server_closed" {
				t.Fatalf("disconnect = %+v, want user:bye server_closed", d)
			}
			if b.mgr.Connected("user:bye") {
				t.Fatal("mapping kept after the server_closed disconnect")
			}
		})

		t.Run("close", func(t *testing.T) {
			st := b.open(t, usersPath+"close")
			expectEvents(t, st, ready(gen)...)
			if err := b.mgr.Close(ctx, "user:close"); err != nil {
				t.Fatal(err)
			}
			expectEnd(t, st)
			if d := b.waitDisconnect(t, "user:close"); d.Reason != "server_closed" {
				t.Fatalf("disconnect = %+v, want server_closed", d)
			}
		})

		t.Run("client_close", func(t *testing.T) {
			st := b.open(t, usersPath+"leaver")
			expectEvents(t, st, ready(gen)...)
			token, _ := b.mgr.Token("user:leaver")
			st.Close()
			d := b.waitDisconnect(t, "user:leaver")
			if diff := cmp.Diff(disconnect{Identifier: "user:leaver", Token: token, Reason: "client_closed"}, d); diff != "" {
				t.Fatalf("disconnect (-want +got):\n%s", diff)
			}
			if b.mgr.Connected("user:leaver") {
				t.Fatal("mapping kept after the client_closed disconnect")
			}
			if err := b.mgr.Send(ctx, "user:leaver", sseconn.Event{Data: "x"}); !errors.Is(err, sseconn.ErrNotConnected) {
				t.Fatalf("Send after the disconnect = %v, want ErrNotConnected", err)
			}
		})

		t.Run("gone", func(t *testing.T) {
			// A token the gateway never knew (or forgot): 404, ErrGone, and
			// the mapping is dropped.
			if err := b.mgr.Register(ctx, "user:ghost", uuid.New()); err != nil {
				t.Fatal(err)
			}
			err := b.mgr.Send(ctx, "user:ghost", sseconn.Event{Data: "boo"})
			if !errors.Is(err, sseconn.ErrGone) {
				t.Fatalf("Send = %v, want ErrGone", err)
			}
			if b.mgr.Connected("user:ghost") {
				t.Fatal("mapping kept after 404")
			}
		})

		t.Run("not_connected", func(t *testing.T) {
			var requests atomic.Int32
			trace := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				GetConn: func(string) { requests.Add(1) },
			})
			err := b.mgr.Send(trace, "user:nobody", sseconn.Event{Data: "x"})
			if !errors.Is(err, sseconn.ErrNotConnected) {
				t.Fatalf("Send = %v, want ErrNotConnected", err)
			}
			// The same trace does see a request that is made.
			if err := b.mgr.Register(ctx, "user:probe", uuid.New()); err != nil {
				t.Fatal(err)
			}
			_ = b.mgr.Send(trace, "user:probe", sseconn.Event{Data: "x"})
			if got := requests.Load(); got != 1 {
				t.Fatalf("%d requests, want 1 (none for the identifier without a stream)", got)
			}
		})
	})
}
