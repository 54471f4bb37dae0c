package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

// ExampleSubjectKey shows the routing keys a publisher uses for a user's
// tabs and for a role, the same keys Bindings binds the browser's queue to.
func ExampleSubjectKey() {
	resp, err := amqp.Bindings("7f3c", "alice", "admin")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, key := range []string{amqp.SubjectKey("alice"), amqp.RoleKey("admin")} {
		fmt.Println(key, strings.Contains(strings.Join(resp.Bindings, " "), key))
	}
	// Output:
	// subject.alice true
	// role.admin true
}

// exampleBindings is a connect service for the gateway's AMQP mode: it
// binds each stream to its request ID and to the user the request carries.
type exampleBindings struct{}

func (exampleBindings) Connect(_ context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	user := req.Header.Get("X-User") // in real code: from the session
	resp, err := amqp.Bindings(req.Params["request_id"], user, "")
	if errors.Is(err, amqp.ErrInvalidKey) {
		return nil, callback.Reject(http.StatusBadRequest, "invalid request id")
	}
	return resp, err
}

func (exampleBindings) Disconnect(context.Context, *callback.Request) error { return nil }

// ExampleBindings_service answers the gateway's connect callbacks with
// Bindings. A request ID that is a topic wildcard is refused with 400.
func ExampleBindings_service() {
	h, err := callback.NewHandler(
		callback.WithSecret("s3cr3t"),
		callback.WithRoute(callback.Query("events", "/api/sse/events", "request_id"), exampleBindings{}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, rid := range []string{"7f3c", "%23"} { // "%23" is "#"
		body := `{"action":"connect","token":"t-` + rid + `","request":{"url":"/api/sse/events?request_id=` + rid +
			`","headers":{"x-user":"alice"}}}`
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/sse/callback?secret=s3cr3t", strings.NewReader(body)))
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 {"request_id":"7f3c","bindings":["connection.7f3c","subject.alice","broadcast"],"subject":"alice"}
	// 400 {"error":"invalid request id"}
}
