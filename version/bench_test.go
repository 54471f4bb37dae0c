package version_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/version"
)

// discardConn accepts every send to a connected identifier and does no I/O,
// so that the benchmarks measure the notifier alone.
type discardConn struct{ connected bool }

func (discardConn) Register(context.Context, string, string) error { return nil }
func (discardConn) Unregister(string) bool                         { return false }
func (c discardConn) Send(context.Context, string, sseconn.Event) error {
	if !c.connected {
		return sseconn.ErrNotConnected
	}
	return nil
}
func (discardConn) Broadcast(context.Context, func(string) bool, sseconn.Event) []sseconn.Result {
	return nil
}

func BenchmarkNotify(b *testing.B) {
	info := version.Info{Version: "1.2.3", Changelog: "Bug fixes"}
	for _, bc := range []struct {
		name      string
		connected bool
	}{
		{"delivered", true},
		{"pending", false}, // every event after the limit drops the oldest
	} {
		b.Run(bc.name, func(b *testing.B) {
			n, err := version.New(discardConn{connected: bc.connected}, version.Static{Version: "1"})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.Notify(ctx, "r1", info); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("delivered/parallel", func(b *testing.B) {
		n, err := version.New(discardConn{connected: true}, version.Static{Version: "1"})
		if err != nil {
			b.Fatal(err)
		}
		var ids atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			rid := fmt.Sprint("r", ids.Add(1))
			for pb.Next() {
				if _, err := n.Notify(context.Background(), rid, info); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
