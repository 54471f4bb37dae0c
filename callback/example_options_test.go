package callback_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/ssegate/ssegate/callback"
)

// exampleService accepts every browser and prints each callback.
type exampleService struct{ name string }

func (s exampleService) Connect(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	fmt.Println(s.name, "connect", req.Identifier, req.Params)
	return nil, nil
}

func (s exampleService) Disconnect(_ context.Context, req *callback.Request) error {
	fmt.Println(s.name, "disconnect", req.Identifier, req.Reason)
	return nil
}

// exampleCallback posts a gateway callback to h and prints the answer.
func exampleCallback(h http.Handler, target string, header http.Header, body string) {
	r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	for name, values := range header {
		r.Header[name] = values
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
}

// exampleConnect is the body of a connect callback for the browser URL u.
func exampleConnect(u string) string {
	return `{"action":"connect","token":"0b6f","request":{"url":"` + u + `","headers":{}}}`
}

// ExampleWithInsecureNoAuth turns authentication off, which NewHandler
// otherwise refuses: only for a callback endpoint that nothing but the
// gateway can reach, or for tests.
func ExampleWithInsecureNoAuth() {
	route := callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), exampleService{"tasks"})
	_, err := callback.NewHandler(route)
	fmt.Println("without auth:", err != nil)

	h, err := callback.NewHandler(callback.WithInsecureNoAuth(), route)
	if err != nil {
		fmt.Println(err)
		return
	}
	exampleCallback(h, "/api/sse/callback", nil, exampleConnect("/api/sse/tasks/42"))
	// Output:
	// without auth: true
	// tasks connect task:42 map[id:42]
	// 200 {}
}

// ExampleWithSecretHeader takes the shared secret from a request header,
// for a gateway deployment that sends it there rather than in the
// CALLBACK_URL's query string.
func ExampleWithSecretHeader() {
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithSecretHeader("X-Gateway-Secret"),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), exampleService{"tasks"}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	body := exampleConnect("/api/sse/tasks/42")
	exampleCallback(h, "/api/sse/callback", http.Header{"X-Gateway-Secret": {"s3cr3t"}}, body)
	exampleCallback(h, "/api/sse/callback", http.Header{"X-Gateway-Secret": {"guess"}}, body)
	exampleCallback(h, "/api/sse/callback?secret=s3cr3t", nil, body) // the query still works
	// Output:
	// tasks connect task:42 map[id:42]
	// 200 {}
	// 401 {"error":"unauthorized"}
	// tasks connect task:42 map[id:42]
	// 200 {}
}

// ExampleWithRoute mounts several services on one callback endpoint.
// Routes are tried in order and the first match wins; a connect that no
// route matches is refused with 400, a disconnect is ignored.
func ExampleWithRoute() {
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(callback.Path("report", "/api/sse/tasks/reports/{id}"), exampleService{"reports"}),
		callback.WithRoute(callback.Prefix("task", "/api/sse/tasks/"), exampleService{"tasks"}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	const target = "/api/sse/callback?secret=s3cr3t"
	// Both routes match this URL: the first one gets it.
	exampleCallback(h, target, nil, exampleConnect("/api/sse/tasks/reports/7"))
	exampleCallback(h, target, nil, exampleConnect("/api/sse/tasks/42"))
	exampleCallback(h, target, nil, exampleConnect("/api/sse/elsewhere"))
	exampleCallback(h, target, nil, `{"action":"disconnect","token":"0b6f","reason":"client_closed","request":{"url":"/api/sse/elsewhere","headers":{}}}`)
	// Output:
	// reports connect report:7 map[id:7]
	// 200 {}
	// tasks connect task:42 map[rest:42]
	// 200 {}
	// 400 {"error":"no route matches request.url","details":{"field":"request.url","reason":"matches no route"}}
	// 200 {}
}

// ExampleQuery_invalid shows the two ways a URL fails a matcher: another
// path is not its URL (ok is false, the next route is tried), while its
// path without a usable parameter is an error (the connect is refused).
func ExampleQuery_invalid() {
	m := callback.Query("task", "/api/sse/tasks", "task_id")
	for _, raw := range []string{"/api/sse/jobs?task_id=42", "/api/sse/tasks", "/api/sse/tasks?task_id=a:b"} {
		u, _ := url.ParseRequestURI(raw)
		_, ok, err := m.Match(u)
		fmt.Println(raw, ok, err)
	}
	// Output:
	// /api/sse/jobs?task_id=42 false <nil>
	// /api/sse/tasks false callback: parameter "task_id" is missing
	// /api/sse/tasks?task_id=a:b false callback: parameter "task_id" must not contain ':'
}

// ExampleRejection refuses a browser from a service with a wrapped
// rejection: the handler answers its status and message, and the gateway
// passes the refusal on to the browser.
func ExampleRejection() {
	svc := exampleRejecter{}
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), svc),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	exampleCallback(h, "/api/sse/callback?secret=s3cr3t", nil, exampleConnect("/api/sse/tasks/42"))

	_, err = svc.Connect(context.Background(), &callback.Request{Identifier: "task:42"})
	var rej *callback.Rejection
	if errors.As(err, &rej) {
		fmt.Println(rej.Status, rej.Message)
	}
	// Output:
	// 403 {"error":"not your task"}
	// 403 not your task
}

// exampleRejecter refuses every browser: nobody may follow another user's
// task.
type exampleRejecter struct{}

func (exampleRejecter) Connect(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	return nil, fmt.Errorf("connect %s: %w", req.Identifier, callback.Reject(http.StatusForbidden, "not your task"))
}

func (exampleRejecter) Disconnect(context.Context, *callback.Request) error { return nil }
