package sseconn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// A Manager is the registry of callback's ready-made connect and disconnect
// service.
var _ callback.Registry = (*sseconn.Manager)(nil)

// exampleService registers every stream under its identifier, as a
// backend's connect handler does, and reports each disconnect callback on
// disc.
type exampleService struct {
	m    *sseconn.Manager
	disc chan string
}

func (s *exampleService) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	return nil, s.m.Register(ctx, req.Identifier, req.Token)
}

func (s *exampleService) Disconnect(_ context.Context, req *callback.Request) error {
	removed := s.m.Unregister(req.Token)
	s.disc <- fmt.Sprintf("disconnect %s (%s), mapping removed: %t", req.Identifier, req.Reason, removed)
	return nil
}

// exampleSetup starts a backend whose callback handler registers the
// streams opened on /api/sse/tasks?task_id=<id> as "task:<id>", an
// in-process gateway in front of it, and a manager with opts. It returns
// the gateway, the manager, the channel of disconnect callbacks and a
// function that stops everything.
func exampleSetup(opts ...sseconn.Option) (*gatewaytest.Server, *sseconn.Manager, <-chan string, func()) {
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback?secret=s3cr3t")
	m, err := sseconn.New(gw.URL, opts...)
	if err != nil {
		log.Fatal(err)
	}
	svc := &exampleService{m: m, disc: make(chan string, 16)}
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(callback.Query("task", "/api/sse/tasks", "task_id"), svc),
	)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("POST /api/sse/callback", h)
	return gw, m, svc.disc, func() {
		gw.Close()
		_ = m.Shutdown(context.Background())
		backend.Close()
	}
}

// exampleOpen opens the stream of a task as a browser does and reads the
// gateway's "ready" event.
func exampleOpen(ctx context.Context, gw *gatewaytest.Server, taskID string) *gatewaytest.Stream {
	st, err := gw.Connect(ctx, "/api/sse/tasks?task_id="+taskID, nil)
	if err != nil {
		log.Fatal(err)
	}
	if ev, err := st.Next(ctx); err != nil || ev.Name != "ready" {
		log.Fatalf("first event: %+v, %v", ev, err)
	}
	return st
}

// examplePrint prints the events of st, as the backend sent them, until
// the stream ends.
func examplePrint(ctx context.Context, st *gatewaytest.Stream) {
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			fmt.Println("browser: end of stream")
			return
		}
		if err != nil {
			log.Fatal(err)
		}
		ev = ev.Unwrap()
		fmt.Println("browser:", ev.Name, ev.Data)
	}
}

// ExampleManager_SendAndClose sends a task's last event and ends its
// stream in one request, so the browser cannot miss the event.
func ExampleManager_SendAndClose() {
	gw, m, _, stop := exampleSetup()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := exampleOpen(ctx, gw, "42")
	defer st.Close()

	if err := m.Send(ctx, "task:42", sseconn.Event{Name: "progress", Data: `{"value":0.5}`}); err != nil {
		log.Fatal(err)
	}
	err := m.SendAndClose(ctx, "task:42", sseconn.Event{Name: "done", Data: `{"file":"report.pdf"}`})
	fmt.Println("SendAndClose:", err)
	examplePrint(ctx, st)
	// Output:
	// SendAndClose: <nil>
	// browser: progress {"value":0.5}
	// browser: done {"file":"report.pdf"}
	// browser: end of stream
}

// ExampleManager_Close ends a stream from the backend. The gateway then
// sends a disconnect callback with reason server_closed, whose handler
// removes the mapping.
func ExampleManager_Close() {
	gw, m, disc, stop := exampleSetup()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := exampleOpen(ctx, gw, "42")
	defer st.Close()

	fmt.Println("Close:", m.Close(ctx, "task:42"))
	examplePrint(ctx, st)
	fmt.Println(<-disc)
	fmt.Println("connected:", m.Connected("task:42"))
	err := m.Close(ctx, "task:42")
	fmt.Println("Close again:", errors.Is(err, sseconn.ErrNotConnected))
	// Output:
	// Close: <nil>
	// browser: end of stream
	// disconnect task:42 (server_closed), mapping removed: true
	// connected: false
	// Close again: true
}

// ExampleManager_Register shows a replacement: the same task opened in a
// second tab registers a new token for "task:42". The manager closes the
// first stream at the gateway, and that stream's late disconnect callback
// leaves the new mapping alone.
func ExampleManager_Register() {
	gw, m, disc, stop := exampleSetup()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first := exampleOpen(ctx, gw, "42")
	defer first.Close()
	second := exampleOpen(ctx, gw, "42") // its connect handler calls Register
	defer second.Close()

	examplePrint(ctx, first)
	fmt.Println(<-disc)
	token, _ := m.Token("task:42")
	fmt.Println("task:42 maps to the second stream:", token == second.Token())
	fmt.Println("mappings:", m.Len())
	// Output:
	// browser: end of stream
	// disconnect task:42 (server_closed), mapping removed: false
	// task:42 maps to the second stream: true
	// mappings: 1
}

// ExampleManager_Sweep reconciles the mappings with the gateway after it
// restarted: a restart ends every stream without disconnect callbacks.
// Here the browser of task 2 reconnected on its own and that of task 1 did
// not, so the sweep removes task:1 only.
func ExampleManager_Sweep() {
	gw, m, _, stop := exampleSetup()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range []string{"1", "2"} {
		st := exampleOpen(ctx, gw, id)
		defer st.Close()
	}

	gw.Restart()
	fmt.Println("mappings after the restart:", m.Len())
	st := exampleOpen(ctx, gw, "2") // EventSource reconnects
	defer st.Close()

	removed, err := m.Sweep(ctx)
	fmt.Println("removed:", removed, err)
	fmt.Println("task:2 connected:", m.Connected("task:2"))
	// Output:
	// mappings after the restart: 2
	// removed: [task:1] <nil>
	// task:2 connected: true
}

// ExampleNewDoer uses the default doer with a retry policy of its own.
// The doer retries only what never reached the gateway, such as a proxy's
// 503, so the browser still gets the event once.
func ExampleNewDoer() {
	doer := sseconn.NewDoer(sseconn.RetryPolicy{
		MaxAttempts: 4,
		MinBackoff:  10 * time.Millisecond,
		MaxBackoff:  100 * time.Millisecond,
	}, nil)
	// Wrap doer.Transport here (with otelhttp.NewTransport, say) to
	// instrument every send and keep these retries.
	gw, m, _, stop := exampleSetup(sseconn.WithDoer(doer))
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := exampleOpen(ctx, gw, "42")
	defer st.Close()

	gw.FailNextSends(2, http.StatusServiceUnavailable) // a proxy, twice
	err := m.SendAndClose(ctx, "task:42", sseconn.Event{Name: "done", Data: `{}`})
	fmt.Println("send:", err, "attempts:", gw.SendAttempts())
	examplePrint(ctx, st)
	// Output:
	// send: <nil> attempts: 3
	// browser: done {}
	// browser: end of stream
}
