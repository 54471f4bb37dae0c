package callback_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// tasks is an example service: it accepts browsers for task 42 only.
type tasks struct{}

func (tasks) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	if req.Params["id"] != "42" {
		return nil, callback.Reject(http.StatusNotFound, "unknown task")
	}
	fmt.Println("connect", req.Identifier)
	return nil, nil
}

func (tasks) Disconnect(ctx context.Context, req *callback.Request) error {
	fmt.Println("disconnect", req.Identifier, req.Reason)
	return nil
}

func ExampleNewHandler() {
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"), // from the environment in real code
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), tasks{}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("POST /api/sse/callback", h)

	// What the gateway posts when a browser opens /api/sse/tasks/42, with
	// CALLBACK_URL=http://backend/api/sse/callback?secret=s3cr3t.
	for _, body := range []string{
		`{"action":"connect","token":"0b6f","request":{"url":"/api/sse/tasks/42","headers":{"accept":"text/event-stream"}}}`,
		`{"action":"connect","token":"7d1e","request":{"url":"/api/sse/tasks/7","headers":{}}}`,
		`{"action":"disconnect","token":"0b6f","reason":"client_closed","request":{"url":"/api/sse/tasks/42","headers":{}}}`,
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/sse/callback?secret=s3cr3t", strings.NewReader(body)))
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// connect task:42
	// 200 {}
	// 404 {"error":"unknown task"}
	// disconnect task:42 client_closed
	// 200 {}
}

func ExampleNewHandler_failClosed() {
	_, err := callback.NewHandler(callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), tasks{}))
	fmt.Println(err != nil)
	// Output: true
}

// amqpService answers connects with the body the gateway's AMQP mode reads.
type amqpService struct{}

func (amqpService) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	id := req.Params["request_id"]
	return &callback.ConnectResponse{
		RequestID: id,
		Bindings:  []string{"connection." + id, "broadcast"},
	}, nil
}

func (amqpService) Disconnect(ctx context.Context, req *callback.Request) error { return nil }

func ExampleConnectResponse() {
	h, _ := callback.NewHandler(
		callback.WithInsecureNoAuth(), // only where nothing but the gateway reaches the handler
		callback.WithRoute(callback.Query("version", "/api/sse/utils/version", "request_id"), amqpService{}),
	)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader(
		`{"action":"connect","token":"t","request":{"url":"/api/sse/utils/version?request_id=abc","headers":{}}}`)))
	fmt.Println(rec.Code, rec.Body)
	// Output: 200 {"request_id":"abc","bindings":["connection.abc","broadcast"]}
}

func ExamplePath() {
	m := callback.Path("task", "/api/sse/projects/{project}/tasks/{id}")
	for _, raw := range []string{"/api/sse/projects/p1/tasks/42", "/api/sse/projects/p1/tasks/", "/elsewhere"} {
		u, _ := url.ParseRequestURI(raw)
		match, ok, err := m.Match(u)
		fmt.Println(match.Identifier, match.Params, ok, err)
	}
	// Output:
	// task:42 map[id:42 project:p1] true <nil>
	//  map[] false callback: parameter "id" is empty
	//  map[] false <nil>
}

func ExampleQuery() {
	m := callback.Query("task", "/api/sse/tasks", "task_id")
	u, _ := url.ParseRequestURI("/api/sse/tasks?task_id=42")
	match, ok, err := m.Match(u)
	fmt.Println(match.Identifier, match.Params, ok, err)
	// Output: task:42 map[task_id:42] true <nil>
}

func ExamplePrefix() {
	m := callback.Prefix("doc", "/api/sse/docs/")
	u, _ := url.ParseRequestURI("/api/sse/docs/reports/2026%2F01")
	match, ok, err := m.Match(u)
	fmt.Println(match.Identifier, ok, err)
	// Output: doc:reports/2026/01 true <nil>
}

func ExampleMatcherFunc() {
	// A matcher of one fixed path, for a stream every browser shares.
	m := callback.MatcherFunc(func(u *url.URL) (callback.Match, bool, error) {
		if u.Path != "/api/sse/status" {
			return callback.Match{}, false, nil
		}
		return callback.Match{Identifier: "status:global"}, true, nil
	})
	u, _ := url.ParseRequestURI("/api/sse/status")
	match, ok, _ := m.Match(u)
	fmt.Println(match.Identifier, ok)
	// Output: status:global true
}

func ExampleReject() {
	err := callback.Reject(http.StatusForbidden, "not your task")
	fmt.Println(err)
	// Output: callback: rejected with status 403: not your task
}

func ExampleAuthenticatorFunc() {
	// A custom check on the callback request, instead of or on top of the
	// shared secret. A *Rejection chooses the status; other errors give 401.
	auth := callback.AuthenticatorFunc(func(r *http.Request) error {
		if r.Header.Get("X-Gateway") != "sse-gateway" {
			return callback.Reject(http.StatusForbidden, "not the gateway")
		}
		return nil
	})
	h, _ := callback.NewHandler(callback.WithAuthenticator(auth),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), tasks{}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cb", strings.NewReader(`{}`)))
	fmt.Println(rec.Code, rec.Body)
	// Output: 403 {"error":"not the gateway"}
}

func ExampleHandler_Shutdown() {
	h, _ := callback.NewHandler(callback.WithSecret("s3cr3t"),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), tasks{}))
	_ = h.Shutdown(context.Background()) // nothing in flight: returns at once

	for _, body := range []string{
		`{"action":"connect","token":"t","request":{"url":"/api/sse/tasks/42"}}`,
		`{"action":"disconnect","token":"t","reason":"server_closed","request":{"url":"/api/sse/tasks/42"}}`,
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/cb?secret=s3cr3t", strings.NewReader(body)))
		fmt.Println(rec.Code, rec.Body)
	}
	// Output:
	// 503 {"error":"shutting down"}
	// disconnect task:42 server_closed
	// 200 {}
}

// The basic integration: the gateway's callbacks register each browser's
// stream in a connection manager under the identifier its route matched,
// and the application sends by identifier.
func ExampleNewRegistrar() {
	// The backend: its callback route, behind a real server.
	mux := http.NewServeMux()
	backend := httptest.NewServer(mux)
	defer backend.Close()
	// A gateway in front of it; in production, the real one.
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback?secret=s3cr3t")
	defer gw.Close()

	conns, err := sseconn.New(gw.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conns.Shutdown(context.Background())
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(callback.Path("user", "/api/sse/users/{id}"), callback.NewRegistrar(conns)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.Handle("POST /api/sse/callback", h)

	// A browser opens its stream.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := gw.Connect(ctx, "/api/sse/users/42", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	// Anywhere in the application:
	if err := conns.Send(ctx, "user:42", sseconn.Event{Name: "notice", Data: `{"text":"hello"}`}); err != nil {
		fmt.Println(err)
		return
	}
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		if ev = ev.Unwrap(); ev.Name == "notice" {
			fmt.Println(ev.Name, ev.Data)
			return
		}
	}
	// Output:
	// notice {"text":"hello"}
}
