package version_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/version"
)

// exampleBackend starts what an application runs (a callback endpoint, a
// connection manager and a notifier) next to an in-process gateway. The
// returned stop function shuts everything down.
func exampleBackend(src version.Source) (*gatewaytest.Server, *version.Notifier, func()) {
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback?secret=s3cr3t")

	mgr, err := sseconn.New(gw.URL)
	if err != nil {
		log.Fatal(err)
	}
	notifier, err := version.New(mgr, src)
	if err != nil {
		log.Fatal(err)
	}
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(notifier.Matcher(), notifier), // the one line that mounts it
	)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("POST /api/sse/callback", h)

	return gw, notifier, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Close()
		_ = h.Shutdown(ctx)
		_ = mgr.Shutdown(ctx)
		backend.Close()
	}
}

// printEvents reads n backend events from st, skipping "ready".
func printEvents(st *gatewaytest.Stream, n int) {
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
		ev = ev.Unwrap()
		fmt.Println(ev.Name, ev.Data)
		n--
	}
}

// A notification for a browser that has not connected yet is kept and
// delivered when it connects; later ones are sent at once.
func Example() {
	gw, notifier, stop := exampleBackend(version.Static{Version: "1.0.0"})
	defer stop()
	ctx := context.Background()

	d, _ := notifier.Notify(ctx, "tab-1", version.Info{Version: "1.1.0", Changelog: "New editor"})
	fmt.Println("before connect:", d.Status)

	// The browser: new EventSource("/api/sse/utils/version?request_id=tab-1")
	st, err := gw.Connect(ctx, "/api/sse/utils/version?request_id=tab-1", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	printEvents(st, 1)

	d, _ = notifier.Notify(ctx, "tab-1", version.Info{Version: "1.2.0"})
	fmt.Println("after connect:", d.Status)
	printEvents(st, 1)

	// Output:
	// before connect: pending
	// version {"version":"1.1.0","changelog":"New editor"}
	// after connect: delivered
	// version {"version":"1.2.0"}
}

// With nothing pending, a browser that connects gets the current version.
// Broadcast then notifies every connected browser, for example on deploy.
func ExampleNotifier_Broadcast() {
	gw, notifier, stop := exampleBackend(version.Static{Version: "1.0.0"})
	defer stop()
	ctx := context.Background()

	var streams []*gatewaytest.Stream
	for _, rid := range []string{"tab-1", "tab-2"} {
		st, err := gw.Connect(ctx, "/api/sse/utils/version?request_id="+rid, nil)
		if err != nil {
			log.Fatal(err)
		}
		defer st.Close()
		printEvents(st, 1)
		streams = append(streams, st)
	}

	deliveries, err := notifier.Broadcast(ctx, version.Info{Version: "2.0.0"})
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range deliveries {
		fmt.Println(d.RequestID, d.Status)
	}
	for _, st := range streams {
		printEvents(st, 1)
	}

	// Output:
	// version {"version":"1.0.0"}
	// version {"version":"1.0.0"}
	// tab-1 delivered
	// tab-2 delivered
	// version {"version":"2.0.0"}
	// version {"version":"2.0.0"}
}

func ExampleNewHTTPSource() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"version":"3.4.5","changelog":"Bug fixes","commit":"abc123"}`)
	}))
	defer srv.Close()

	src, err := version.NewHTTPSource(srv.URL+"/version.json",
		version.WithSourceTimeout(500*time.Millisecond),
		version.WithSourceCacheTTL(30*time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	info, err := src.Current(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", info)

	// Output:
	// {Version:3.4.5 Changelog:Bug fixes}
}

func ExampleParseInfo() {
	for _, doc := range []string{
		`{"version":"1.2.3","changelog":"Faster","build":77}`,
		`{"changelog":"no version"}`,
	} {
		info, err := version.ParseInfo([]byte(doc))
		fmt.Printf("%+v %v\n", info, err)
	}

	// Output:
	// {Version:1.2.3 Changelog:Faster} <nil>
	// {Version: Changelog:} version: invalid info: missing version
}
