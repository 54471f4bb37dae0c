package version_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/version"
)

// ExampleStatic announces the version the binary was built as, for
// example with go build -ldflags "-X main.appVersion=2.3.1".
func ExampleStatic() {
	appVersion := "2.3.1"
	src := version.Static{Version: appVersion, Changelog: "Faster search"}
	info, err := src.Current(context.Background())
	fmt.Printf("%+v %v\n", info, err)

	// A build without a version is refused rather than announced.
	_, err = version.Static{}.Current(context.Background())
	fmt.Println(errors.Is(err, version.ErrInvalidInfo))
	// Output:
	// {Version:2.3.1 Changelog:Faster search} <nil>
	// true
}

// ExampleSourceFunc serves the version that a deploy hook last stored.
func ExampleSourceFunc() {
	var deployed atomic.Pointer[version.Info]
	deployed.Store(&version.Info{Version: "1.0.0"})
	src := version.SourceFunc(func(ctx context.Context) (version.Info, error) {
		return *deployed.Load(), nil
	})

	info, _ := src.Current(context.Background())
	fmt.Println(info.Version)
	deployed.Store(&version.Info{Version: "1.0.1", Changelog: "Hotfix"}) // on deploy
	info, _ = src.Current(context.Background())
	fmt.Println(info.Version, info.Changelog)
	// Output:
	// 1.0.0
	// 1.0.1 Hotfix
}

// ExampleHTTPSource_Current reads version.json from a static file server.
// A fetched version is cached for the TTL; an answer other than 200 is a
// *StatusError.
func ExampleHTTPSource_Current() {
	var fetches atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/version.json", func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"3.4.5","changelog":"Bug fixes"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	src, err := version.NewHTTPSource(srv.URL+"/app/version.json", version.WithSourceCacheTTL(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		info, err := src.Current(ctx)
		fmt.Printf("%+v %v\n", info, err)
	}
	fmt.Println("fetches:", fetches.Load())

	missing, err := version.NewHTTPSource(srv.URL + "/app/missing.json")
	if err != nil {
		log.Fatal(err)
	}
	_, err = missing.Current(ctx)
	if se, ok := errors.AsType[*version.StatusError](err); ok {
		fmt.Println("status:", se.StatusCode)
	}
	// Output:
	// {Version:3.4.5 Changelog:Bug fixes} <nil>
	// {Version:3.4.5 Changelog:Bug fixes} <nil>
	// fetches: 1
	// status: 404
}

// ExampleNotifier_Notify notifies one browser by request id. Before it
// connects the events are kept pending; on connect they are sent in order;
// later ones are delivered at once.
func ExampleNotifier_Notify() {
	gw, notifier, stop := exampleBackend(version.Static{Version: "1.0.0"})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, v := range []string{"1.1.0", "1.2.0"} {
		d, err := notifier.Notify(ctx, "tab-7", version.Info{Version: v})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(v, d.Status, "not connected:", errors.Is(d.Err, sseconn.ErrNotConnected))
	}
	fmt.Println("pending:", notifier.Pending("tab-7"))

	st, err := gw.Connect(ctx, "/api/sse/utils/version?request_id=tab-7", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	printEvents(st, 2)
	fmt.Println("pending:", notifier.Pending("tab-7"))

	d, err := notifier.Notify(ctx, "tab-7", version.Info{Version: "1.3.0"})
	fmt.Println("1.3.0", d.Status, d.Err, err)
	printEvents(st, 1)

	_, err = notifier.Notify(ctx, "tab:7", version.Info{Version: "1.3.0"})
	fmt.Println(errors.Is(err, version.ErrInvalidRequestID))
	// Output:
	// 1.1.0 pending not connected: true
	// 1.2.0 pending not connected: true
	// pending: 2
	// version {"version":"1.1.0"}
	// version {"version":"1.2.0"}
	// pending: 0
	// 1.3.0 delivered <nil> <nil>
	// version {"version":"1.3.0"}
	// true
}
