package amqp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

func ExampleBindings() {
	// The answer of a connect service for a browser that opened the stream
	// with request_id=7f3c, logged in as alice with the role admin.
	resp, err := amqp.Bindings("7f3c", "alice", "admin")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(resp)
	fmt.Println(string(b))

	// A request ID from the browser that is a topic wildcard is refused.
	_, err = amqp.Bindings("*", "", "")
	fmt.Println(errors.Is(err, amqp.ErrInvalidKey))
	// Output:
	// {"request_id":"7f3c","bindings":["connection.7f3c","subject.alice","role.admin","broadcast"],"subject":"alice","role":"admin"}
	// true
}

func ExampleConnectionKey() {
	fmt.Println(amqp.ConnectionKey("7f3c"))
	fmt.Println(amqp.SubjectKey("alice"))
	fmt.Println(amqp.RoleKey("admin"))
	fmt.Println(amqp.BroadcastKey)
	// Output:
	// connection.7f3c
	// subject.alice
	// role.admin
	// broadcast
}

func ExampleDial() {
	ctx := context.Background()
	p, err := amqp.Dial(ctx, os.Getenv("RABBITMQ_URL"),
		amqp.WithEnvPrefix(os.Getenv("RABBITMQ_ENV_PREFIX")),
		amqp.WithLogger(slog.Default()),
		amqp.WithBackoff(time.Second, time.Minute))
	if err != nil {
		log.Fatal(err) // names the broker URL with its password masked
	}
	defer p.Close()

	err = p.Broadcast(ctx, sseconn.Event{Name: "maintenance", Data: `{"in_minutes":5}`})
	if err != nil {
		log.Print(err)
	}
}

func ExamplePublisher_PublishToSubject() {
	ctx := context.Background()
	p, err := amqp.Dial(ctx, "amqp://guest:guest@127.0.0.1:5672/")
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()

	ev := sseconn.Event{Name: "notification", Data: `{"text":"Your export is ready"}`}
	switch err := p.PublishToSubject(ctx, "alice", ev); {
	case err == nil:
		// The broker confirmed it; every tab of alice's that is connected,
		// or reconnects within the gateway's queue TTL, receives it.
	case errors.Is(err, amqp.ErrNotConnected), errors.Is(err, amqp.ErrBlocked):
		// Nothing was published; the publisher is reconnecting. Retry
		// later or keep the notification elsewhere.
	case errors.Is(err, amqp.ErrUnconfirmed):
		// It may have been delivered: retrying may duplicate it.
	default:
		log.Print(err)
	}
}
