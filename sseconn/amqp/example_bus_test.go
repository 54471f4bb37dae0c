package amqp_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

// One replica of a backend in AMQP mode: the runner and the notifier are
// built as with one replica, with one more option each.
func ExampleNewBus() {
	ctx := context.Background()
	b, err := amqp.NewBus(ctx, "amqp://guest:guest@127.0.0.1:5672/",
		amqp.WithQueueTTL(300*time.Second)) // the gateway's RABBITMQ_QUEUE_TTL_MS
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	conns, err := sseconn.New("http://127.0.0.1:3000") // this pod's gateway
	if err != nil {
		log.Fatal(err)
	}
	runner, err := task.New(conns, task.WithBus(b))
	if err != nil {
		log.Fatal(err)
	}
	src, err := version.NewHTTPSource("https://static.example.com/app/version.json")
	if err != nil {
		log.Fatal(err)
	}
	notifier, err := version.New(conns, src, version.WithGateway(b.Gateway()))
	if err != nil {
		log.Fatal(err)
	}
	cb, err := callback.NewHandler(callback.WithSecret("s3cr3t"),
		callback.WithRoute(runner.Matcher(), runner),
		callback.WithRoute(notifier.Matcher(), notifier))
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("POST /api/sse/callback", cb)
	// Any replica may now start tasks, notify and broadcast; any replica may
	// answer a browser's connect.
}
