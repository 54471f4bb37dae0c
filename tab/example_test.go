package tab_test

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
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

// exampleBackend starts what an application runs (a callback endpoint, a
// connection manager, a hub for tab streams and a task runner sending to
// it) next to an in-process gateway. The returned stop function shuts
// everything down.
func exampleBackend() (*gatewaytest.Server, *tab.Hub, *task.Runner, func()) {
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret=s3cr3t", gatewaytest.WithGeneration(2))
	mgr, err := sseconn.New(gw.URL)
	if err != nil {
		log.Fatal(err)
	}
	hub, err := tab.New(mgr,
		// The user is the session cookie's (a real application looks the
		// session up); a browser without one is refused with 401.
		tab.WithSubject(func(req *callback.Request) (string, error) {
			c, err := (&http.Request{Header: req.Header}).Cookie("session")
			if err != nil {
				return "", err
			}
			return c.Value, nil
		}),
		tab.WithGreeter(version.Greeter(version.Static{Version: "1.0.0"})),
	)
	if err != nil {
		log.Fatal(err)
	}
	runner, err := task.New(mgr, task.WithTabs(hub))
	if err != nil {
		log.Fatal(err)
	}
	h, err := callback.NewHandler(callback.WithSecret("s3cr3t"),
		callback.WithRoute(hub.Matcher(), hub),
		callback.WithRoute(runner.Matcher(), runner))
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("POST /api/sse/callback", h)
	return gw, hub, runner, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = runner.Shutdown(ctx)
		gw.Close()
		_ = h.Shutdown(ctx)
		hub.Close()
		_ = mgr.Shutdown(ctx)
		backend.Close()
	}
}

// printMessages reads n envelopes from st, as the page's onmessage does,
// skipping the gateway's "ready", and prints their type and, for task
// events, event_type.
func printMessages(st *gatewaytest.Stream, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for n > 0 {
		ev, err := st.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if ev.Name == "ready" {
			continue
		}
		var env struct {
			Type    string `json:"type"`
			Payload struct {
				EventType string `json:"event_type"`
				Version   string `json:"version"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &env); err != nil {
			log.Fatal(err)
		}
		fmt.Println(env.Type, env.Payload.EventType+env.Payload.Version)
		n--
	}
}

// One stream per tab: a task started for the tab reaches it with its
// task_id, the stream stays open after the task's end, and a new version
// travels on the same stream.
func Example() {
	gw, hub, runner, stop := exampleBackend()
	defer stop()
	ctx := context.Background()

	// The page: new EventSource("/api/sse/stream?request_id=tab-1"), signed
	// in as alice.
	st, err := gw.Connect(ctx, "/api/sse/stream?request_id=tab-1",
		http.Header{"Cookie": {"session=alice"}})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	printMessages(st, 1) // the current version

	// The handler that starts a task for the tab that asked.
	info, err := runner.Start(ctx, func(context.Context, *task.Progress) (any, error) {
		return map[string]bool{"success": true}, nil
	}, task.For(tab.To("tab-1", "alice")))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := runner.Wait(ctx, info.ID); err != nil {
		log.Fatal(err)
	}
	printMessages(st, 2)

	// A deploy.
	ev, _ := version.Event(version.Info{Version: "2.0.0"})
	if err := hub.Send(ctx, tab.Broadcast(), ev); err != nil {
		log.Fatal(err)
	}
	printMessages(st, 1)
	// Output:
	// version 1.0.0
	// task_event task_started
	// task_event task_completed
	// version 2.0.0
}

// Events sent to a tab before its stream connects are delivered when it
// connects, after the greeting.
func ExampleHub_Send() {
	gw, hub, _, stop := exampleBackend()
	defer stop()
	ctx := context.Background()

	ev := sseconn.Event{Name: "task_event", Data: `{"event_type":"task_started","task_id":"42","data":{}}`}
	if err := hub.Send(ctx, tab.To("tab-2", "bob"), ev); err != nil {
		log.Fatal(err)
	}
	fmt.Println("kept:", hub.Pending("tab-2", "bob"))

	st, err := gw.Connect(ctx, "/api/sse/stream?request_id=tab-2", http.Header{"Cookie": {"session=bob"}})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	printMessages(st, 2)
	// Output:
	// kept: 1
	// version 1.0.0
	// task_event task_started
}

// The key of a tab depends on its user, so that a browser that claims
// another user's request id never gets that tab's events.
func ExampleKey() {
	fmt.Println(tab.Key("tab-1", "alice") == tab.Key("tab-1", "mallory"))
	fmt.Println(len(tab.Key("tab-1", "alice")))
	// Output:
	// false
	// 32
}
