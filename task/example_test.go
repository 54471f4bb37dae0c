package task_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

// Example mounts a runner on the callback handler, behind an in-process
// gateway, and follows a task from a browser's point of view.
func Example() {
	ctx := context.Background()
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback?secret=s3cr3t")
	defer gw.Close()

	conns, err := sseconn.New(gw.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer conns.Shutdown(ctx)
	runner, err := task.New(conns)
	if err != nil {
		log.Fatal(err)
	}
	cb, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(runner.Matcher(), runner), // the one line that mounts the runner
	)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("POST /api/sse/callback", cb)
	defer cb.Shutdown(ctx)
	defer runner.Shutdown(ctx) // deferred last: runs first

	info, err := runner.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
		for i := 1; i <= 4; i++ {
			p.Report(fmt.Sprintf("page %d of 4", i), float64(i)/4)
		}
		return map[string]string{"file": "report.pdf"}, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := runner.Wait(ctx, info.ID); err != nil {
		log.Fatal(err)
	}

	// The browser opens info.StreamURL on the gateway after the task ended:
	// it gets the compacted log, then the stream ends.
	st, err := gw.Connect(ctx, info.StreamURL, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		ev = ev.Unwrap() // generation 2 wraps named events in an envelope
		if ev.Name != task.EventName {
			continue // the gateway's "ready"
		}
		var m task.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.EventType, string(m.Data))
	}
	// Output:
	// task_started {}
	// progress_update {"text":"page 4 of 4","value":1}
	// task_completed {"file":"report.pdf"}
	// connection_close {"reason":"task_completed"}
}

// printConn is a task.Conn that prints what it is asked to do, leaving
// out the random task ids.
type printConn struct{}

func (printConn) Register(_ context.Context, _, token string) error {
	fmt.Println("register", token)
	return nil
}

func (printConn) Unregister(string) bool { return true }

func (printConn) Send(_ context.Context, _ string, ev sseconn.Event) error {
	printEvent(ev, "")
	return nil
}

func (printConn) SendAndClose(_ context.Context, _ string, ev sseconn.Event) error {
	printEvent(ev, " +close")
	return nil
}

func printEvent(ev sseconn.Event, suffix string) {
	var m task.Message
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s: %s %s %s%s\n", ev.Name, m.EventType, m.Timestamp, m.Data, suffix)
}

// ExampleRunner_Connect shows the exact events a stream receives, here for
// a task that failed before its browser connected.
func ExampleRunner_Connect() {
	clock := func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }
	runner, err := task.New(printConn{}, task.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	defer runner.Shutdown(context.Background())

	info, err := runner.Start(context.Background(), func(_ context.Context, p *task.Progress) (any, error) {
		p.Report("reading", 0.25)
		return nil, errors.New("input is empty")
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := runner.Wait(context.Background(), info.ID); err != nil {
		log.Fatal(err)
	}

	// The gateway's connect callback, as the callback handler decodes it.
	u, _ := url.Parse(info.StreamURL)
	m, _, _ := runner.Matcher().Match(u)
	req := &callback.Request{Action: "connect", Token: "tok-1", URL: u, Identifier: m.Identifier, Params: m.Params}
	if _, err := runner.Connect(context.Background(), req); err != nil {
		log.Fatal(err)
	}
	// Output:
	// register tok-1
	// task_event: task_started 2026-01-02T15:04:05.000Z {}
	// task_event: progress_update 2026-01-02T15:04:05.000Z {"text":"reading","value":0.25}
	// task_event: task_failed 2026-01-02T15:04:05.000Z {"error":"input is empty"}
	// task_event: connection_close 2026-01-02T15:04:05.000Z {"reason":"task_failed"} +close
}

// ExampleWithStreamURL serves task streams under a path instead of a query.
func ExampleWithStreamURL() {
	runner, err := task.New(printConn{}, task.WithStreamURL(
		func(id string) string { return "/sse/jobs/" + url.PathEscape(id) },
		callback.Path("task", "/sse/jobs/{id}"),
	))
	if err != nil {
		log.Fatal(err)
	}
	defer runner.Shutdown(context.Background())
	u, _ := url.Parse("/sse/jobs/42")
	m, ok, err := runner.Matcher().Match(u)
	fmt.Println(m.Identifier, ok, err)
	// Output: task:42 true <nil>
}

// ExampleWithStreamURL_mismatch shows that New refuses a matcher that does
// not recognize the stream URLs.
func ExampleWithStreamURL_mismatch() {
	_, err := task.New(printConn{}, task.WithStreamURL(
		func(id string) string { return "/sse/jobs/" + id },
		callback.Path("task", "/sse/tasks/{id}"),
	))
	fmt.Println(err != nil)
	// Output: true
}

// ExampleWithCancelledEvent shows how a cancelled task's stream ends, by
// default and with WithCancelledEvent: the events a browser gets when it
// connects after the cancellation.
func ExampleWithCancelledEvent() {
	clock := func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }
	for _, opts := range [][]task.Option{
		{task.WithClock(clock)},
		{task.WithClock(clock), task.WithCancelledEvent()},
	} {
		runner, err := task.New(printConn{}, opts...)
		if err != nil {
			log.Fatal(err)
		}
		running := make(chan struct{})
		info, err := runner.Start(context.Background(), func(ctx context.Context, _ *task.Progress) (any, error) {
			close(running)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		if err != nil {
			log.Fatal(err)
		}
		<-running
		if err := runner.Cancel(info.ID); err != nil {
			log.Fatal(err)
		}
		if _, err := runner.Wait(context.Background(), info.ID); err != nil {
			log.Fatal(err)
		}
		u, _ := url.Parse(info.StreamURL)
		m, _, _ := runner.Matcher().Match(u)
		req := &callback.Request{Action: "connect", Token: "tok-1", URL: u, Identifier: m.Identifier, Params: m.Params}
		if _, err := runner.Connect(context.Background(), req); err != nil {
			log.Fatal(err)
		}
		if err := runner.Shutdown(context.Background()); err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// register tok-1
	// task_event: task_started 2026-01-02T15:04:05.000Z {}
	// task_event: task_failed 2026-01-02T15:04:05.000Z {"error":"task cancelled","code":"CANCELLED"}
	// task_event: connection_close 2026-01-02T15:04:05.000Z {"reason":"task_cancelled"} +close
	// register tok-1
	// task_event: task_started 2026-01-02T15:04:05.000Z {}
	// task_event: task_cancelled 2026-01-02T15:04:05.000Z {}
	// task_event: connection_close 2026-01-02T15:04:05.000Z {"reason":"task_cancelled"} +close
}

// ExampleRunner_Connect_unknownTask shows the events of a stream opened
// for a task the runner does not know, or no longer keeps.
func ExampleRunner_Connect_unknownTask() {
	clock := func() time.Time { return time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC) }
	runner, err := task.New(printConn{}, task.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	defer runner.Shutdown(context.Background())

	u, _ := url.Parse("/api/sse/tasks?task_id=no-such-task")
	m, _, _ := runner.Matcher().Match(u)
	req := &callback.Request{Action: "connect", Token: "tok-1", URL: u, Identifier: m.Identifier, Params: m.Params}
	if _, err := runner.Connect(context.Background(), req); err != nil {
		log.Fatal(err)
	}
	// Output:
	// register tok-1
	// task_event: task_failed 2026-01-02T15:04:05.000Z {"error":"task not found","code":"TASK_NOT_FOUND"}
	// task_event: connection_close 2026-01-02T15:04:05.000Z {"reason":"task_not_found"} +close
}
