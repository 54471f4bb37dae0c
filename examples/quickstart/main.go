// Command quickstart is the README's quickstart: a backend that runs a task
// and streams its progress, behind an in-process gateway.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux) // your backend's HTTP server
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback?secret=s3cr3t") // the gateway
	defer gw.Close()

	conns, err := sseconn.New(gw.URL, sseconn.WithTimeout(2*time.Second), sseconn.WithSweepInterval(time.Minute))
	if err != nil {
		return err
	}
	defer conns.Shutdown(ctx)
	runner, err := task.New(conns, task.WithWorkers(4), task.WithRetention(10*time.Minute))
	if err != nil {
		return err
	}
	defer runner.Shutdown(ctx) // deferred last, runs first
	cb, err := callback.NewHandler(callback.WithSecret("s3cr3t"), callback.WithRoute(runner.Matcher(), runner))
	if err != nil {
		return err
	}
	mux.Handle("POST /api/sse/callback", cb)

	info, err := runner.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
		p.Report("halfway", 0.5)
		return map[string]string{"file": "report.pdf"}, nil
	})
	if err != nil {
		return err
	}
	if _, err := runner.Wait(ctx, info.ID); err != nil { // the browser may come late: no event is lost
		return err
	}

	st, err := gw.Connect(ctx, info.StreamURL, nil) // new EventSource(gateway + info.StreamURL)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return nil // the backend closed the stream: the task is over
		}
		if err != nil {
			return err
		}
		var m task.Message
		if ev = ev.Unwrap(); ev.Name == task.EventName && json.Unmarshal([]byte(ev.Data), &m) == nil {
			fmt.Println(m.EventType, string(m.Data))
		}
	}
}
