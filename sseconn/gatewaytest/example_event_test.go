package gatewaytest_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// ExampleEvent_Unwrap compares what a browser receives under both gateway
// generations with what the backend sent.
func ExampleEvent_Unwrap() {
	for _, ev := range []gatewaytest.Event{
		{Data: `{"type":"task_event","payload":{"progress":0.5}}`}, // generation 2 envelope
		{Name: "task_event", Data: `{"progress":0.5}`},             // generation 1: as sent
		{Name: "ready"},      // generation 2 control event
		{Data: "plain text"}, // unnamed event
	} {
		u := ev.Unwrap()
		fmt.Printf("name=%q data=%s\n", u.Name, u.Data)
	}
	// Output:
	// name="task_event" data={"progress":0.5}
	// name="task_event" data={"progress":0.5}
	// name="ready" data=
	// name="" data=plain text
}

// ExampleServer_Connect_rejected shows how each generation tells a browser
// that the backend refused its connect with 403: generation 1 answers the
// GET with the status and a JSON error body, generation 2 opens the stream,
// sends one "rejected" event and ends it.
func ExampleServer_Connect_rejected() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"not your task"}`, http.StatusForbidden)
	}))
	defer backend.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, gen := range []int{1, 2} {
		gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback", gatewaytest.WithGeneration(gen))
		st, err := gw.Connect(ctx, "/api/sse/tasks?task_id=42", nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("generation %d: status %d\n", gen, st.StatusCode)
		if body := st.Body(); body != nil {
			fmt.Printf("  body %s\n", body)
		}
		for {
			ev, err := st.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("  event %q %s\n", ev.Name, ev.Data)
		}
		st.Close()
		gw.Close()
	}
	// Output:
	// generation 1: status 403
	//   body {"error":{"message":"Backend returned 403","code":"BACKEND_FORBIDDEN"}}
	// generation 2: status 200
	//   event "rejected" {"status":403,"message":"Forbidden"}
}
