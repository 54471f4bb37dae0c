package ssegate_test

import (
	"context"
	"encoding/json"
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
	"github.com/ssegate/ssegate/task"
)

// Example wires a backend as the package documentation shows, behind an
// in-process gateway: a connection manager, a task runner and the callback
// handler on the backend's mux. It then starts a task and follows it as a
// browser does.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback?secret=s3cr3t")
	defer gw.Close()

	mgr, err := sseconn.New(gw.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer mgr.Shutdown(ctx)
	tasks, err := task.New(mgr)
	if err != nil {
		log.Fatal(err)
	}
	cb, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(tasks.Matcher(), tasks),
	)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("POST /api/sse/callback", cb)
	defer cb.Shutdown(ctx)
	defer tasks.Shutdown(ctx) // deferred last: runs first

	info, err := tasks.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
		p.Report("halfway", 0.5)
		return map[string]int{"answer": 42}, nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// The browser opens EventSource(gateway + info.StreamURL). Whether it
	// comes before the task ends or after, it sees the same events.
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
		if ev = ev.Unwrap(); ev.Name != task.EventName {
			continue // the gateway's "ready"
		}
		var m task.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.EventType)
	}
	// Output:
	// task_started
	// progress_update
	// task_completed
	// connection_close
}
