package amqp_test

import (
	"testing"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

// BenchmarkPublish measures one confirmed publish to a bound queue at a
// time: a round trip to the broker each.
func BenchmarkPublish(b *testing.B) {
	e := newEnv(b)
	p := e.dial()
	reqID := e.id("bench")
	e.queue(reqID, nil, amqp.ConnectionKey(reqID))
	ev := sseconn.Event{Name: "task_event", Data: `{"progress":0.5}`}
	ctx := testCtx(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := p.PublishToConnection(ctx, reqID, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishParallel measures concurrent publishes, which share the
// confirm round trips.
func BenchmarkPublishParallel(b *testing.B) {
	e := newEnv(b)
	p := e.dial()
	ev := sseconn.Event{Name: "task_event", Data: `{"progress":0.5}`}
	ctx := testCtx(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// Unroutable: measures the publisher and the broker's confirm,
			// not queue growth.
			if err := p.Broadcast(ctx, ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
