// Command quickstart is the README's quickstart: a backend that runs a task
// and streams its progress, behind an in-process gateway.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

func main() {
	ctx := context.Background()
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux) // your backend's HTTP server
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback?secret=s3cr3t") // the gateway
	defer gw.Close()

	conns, err := sseconn.New(gw.URL, sseconn.WithSendTimeout(2*time.Second), sseconn.WithSweepInterval(time.Minute))
	check(err)
	defer conns.Shutdown(ctx)
	runner, err := task.New(conns, task.WithWorkers(4), task.WithRetention(10*time.Minute))
	check(err)
	defer runner.Shutdown(ctx) // deferred last, runs first
	cb, err := callback.NewHandler(callback.WithSecret("s3cr3t"), callback.WithRoute(runner.Matcher(), runner))
	check(err)
	mux.Handle("POST /api/sse/callback", cb)

	info, err := runner.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
		p.Report("halfway", 0.5)
		return map[string]string{"file": "report.pdf"}, nil
	})
	check(err)
	_, err = runner.Wait(ctx, info.ID) // the browser may come late: no event is lost
	check(err)

	st, err := gw.Connect(ctx, info.StreamURL, nil) // new EventSource(gateway + info.StreamURL)
	check(err)
	for ev, err := st.Next(ctx); err == nil; ev, err = st.Next(ctx) {
		var m task.Message
		if ev = ev.Unwrap(); ev.Name == task.EventName && json.Unmarshal([]byte(ev.Data), &m) == nil {
			fmt.Println(m.EventType, string(m.Data))
		}
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
