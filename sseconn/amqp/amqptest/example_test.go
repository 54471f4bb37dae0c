package amqptest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ssegate/ssegate/sseconn/amqp/amqptest"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// A gateway in AMQP mode in front of a backend whose connect answer names
// the stream's queue and its routing keys.
func ExampleWithAMQP() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"request_id":"tab-1","bindings":["connection.tab-1","broadcast"]}`)
	}))
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback",
		amqptest.WithAMQP("amqp://guest:guest@127.0.0.1:5672/", 0, amqptest.WithEnvPrefix("example")))
	defer gw.Close()

	st, err := gw.Connect(context.Background(), "/api/sse/stream?request_id=tab-1", nil)
	if err != nil {
		return
	}
	defer st.Close()
	// Messages published with the key connection.tab-1 on the exchange
	// example.sse.events now reach st, framed like /internal/send events.
}
