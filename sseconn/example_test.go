package sseconn_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ssegate/ssegate/sseconn"
)

// A fake gateway that answers every send, standing in for the real one.
func fakeGateway() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
}

func Example() {
	gw := fakeGateway()
	defer gw.Close()

	m, err := sseconn.New(gw.URL)
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(context.Background())

	ctx := context.Background()
	// A connect callback for token "0b6f..." registers the stream.
	if err := m.Register(ctx, "task:42", "0b6f-token"); err != nil {
		panic(err)
	}
	err = m.Send(ctx, "task:42", sseconn.Event{Name: "task_event", Data: `{"progress":0.5}`})
	fmt.Println("send:", err)

	err = m.Send(ctx, "task:43", sseconn.Event{Name: "task_event", Data: `{}`})
	fmt.Println("nobody listening:", errors.Is(err, sseconn.ErrNotConnected))

	err = m.Send(ctx, "task:42", sseconn.Event{Name: "task_event", Data: `not json`})
	fmt.Println("invalid:", errors.Is(err, sseconn.ErrInvalidEvent))

	// A disconnect callback removes it.
	fmt.Println("removed:", m.Unregister("0b6f-token"))
	// Output:
	// send: <nil>
	// nobody listening: true
	// invalid: true
	// removed: true
}

func ExampleManager_Broadcast() {
	gw := fakeGateway()
	defer gw.Close()
	m, _ := sseconn.New(gw.URL)
	defer m.Shutdown(context.Background())

	ctx := context.Background()
	m.Register(ctx, "version:a", "tok-a")
	m.Register(ctx, "version:b", "tok-b")
	m.Register(ctx, "task:1", "tok-c")

	for _, r := range m.Broadcast(ctx, sseconn.HasPrefix("version:"), sseconn.Event{Name: "version", Data: `{"version":"1.2.0"}`}) {
		fmt.Println(r.Identifier, r.Err)
	}
	// Output:
	// version:a <nil>
	// version:b <nil>
}

func ExampleGatewayError() {
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":{"message":"Failed to write to stream","code":"WRITE_FAILED"}}`)
	}))
	defer gw.Close()
	m, _ := sseconn.New(gw.URL)
	defer m.Shutdown(context.Background())
	m.Register(context.Background(), "task:1", "tok")

	err := m.Send(context.Background(), "task:1", sseconn.Event{Data: "hello"})
	var ge *sseconn.GatewayError
	if errors.As(err, &ge) {
		fmt.Println(ge.StatusCode, ge.Code)
	}
	// Output:
	// 500 WRITE_FAILED
}
