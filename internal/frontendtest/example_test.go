package frontendtest_test

import (
	"context"
	"fmt"
	"io"
	"log"

	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// script is a Stream that returns its events and then ends.
type script []gatewaytest.Event

func (s *script) Next(context.Context) (gatewaytest.Event, error) {
	if len(*s) == 0 {
		return gatewaytest.Event{}, io.EOF
	}
	ev := (*s)[0]
	*s = (*s)[1:]
	return ev, nil
}

func (s *script) Close() {}

// ExamplePage follows a task with the generation-1 page. Its first connect
// is refused, so the page retries; the second stream ends the task with
// task_failed, which the page shows and stops on. A real test dials a
// gateway with frontendtest.Gateway instead.
func ExamplePage() {
	connects := 0
	dial := func(context.Context, string) (int, frontendtest.Stream, error) {
		connects++
		if connects == 1 {
			return 503, nil, nil
		}
		return 200, &script{
			{Name: "task_event", Data: `{"event_type":"task_started","task_id":"42","data":{}}`},
			{Name: "task_event", Data: `{"event_type":"task_failed","task_id":"42","data":{"error":"task not found","code":"TASK_NOT_FOUND"}}`},
		}, nil
	}
	page := &frontendtest.Page{Dial: dial, StreamURL: "/api/sse/tasks?task_id=42"}
	out, err := page.Run(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("answers:", out.Answers, "waits:", out.Waits)
	fmt.Println("seen:", out.Seen, "closed:", out.Closed)
	fmt.Printf("shows: %s %q (%s)\n", out.View.Status, out.View.Error, out.View.Code)
	// Output:
	// answers: [503 200] waits: [1ms]
	// seen: [task_started task_failed] closed: true
	// shows: failed "task not found" (TASK_NOT_FOUND)
}
