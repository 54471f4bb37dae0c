package gatewaytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// exampleBackend starts a backend that accepts every connect and reports
// the reason of every disconnect callback on the returned channel.
func exampleBackend() (*httptest.Server, <-chan string) {
	reasons := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb struct {
			Action string `json:"action"`
			Reason string `json:"reason"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cb); err != nil {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		if cb.Action == "disconnect" {
			reasons <- cb.Reason
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	return srv, reasons
}

// exampleClient opens a new connection for each request, so that no idle
// connection outlives an example.
var exampleClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// exampleSend posts an unnamed event to token through the gateway's
// /internal/send, as a backend does, and returns the answer's status, media
// type and body.
func exampleSend(gatewayURL, token, data string) (status int, mediaType, body string) {
	req, err := json.Marshal(map[string]any{"token": token, "event": map[string]string{"data": data}})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := exampleClient.Post(gatewayURL+"/internal/send", "application/json", strings.NewReader(string(req)))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		log.Fatal(err)
	}
	mediaType, _, _ = mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return resp.StatusCode, mediaType, string(b)
}

// exampleOpen opens a stream and reads the gateway's "ready" event.
func exampleOpen(ctx context.Context, gw *gatewaytest.Server) *gatewaytest.Stream {
	st, err := gw.Connect(ctx, "/api/sse/tasks?task_id=42", nil)
	if err != nil {
		log.Fatal(err)
	}
	if ev, err := st.Next(ctx); err != nil || ev.Name != "ready" {
		log.Fatalf("first event: %+v, %v", ev, err)
	}
	return st
}

// ExampleServer_Restart shows what a backend sees when the gateway restarts:
// its streams end, their tokens are unknown, and no disconnect callback
// tells it so. A backend finds out from a 404 or a sweep.
func ExampleServer_Restart() {
	backend, reasons := exampleBackend()
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback")
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	st := exampleOpen(ctx, gw)
	defer st.Close()
	fmt.Println("live tokens before:", len(gw.Tokens()))

	gw.Restart()
	_, err := st.Next(ctx)
	fmt.Println("stream:", err)
	status, _, body := exampleSend(gw.URL, st.Token(), "hello")
	fmt.Println("send to the old token:", status, body)
	fmt.Println("live tokens after:", len(gw.Tokens()))

	// The gateway still listens on the same URL: the browser reconnects
	// and gets a new token.
	again := exampleOpen(ctx, gw)
	defer again.Close()
	fmt.Println("new token:", again.Token() != st.Token())

	gw.Close() // waits for disconnect callbacks under way
	fmt.Println("disconnect callbacks:", len(reasons))
	// Output:
	// live tokens before: 1
	// stream: EOF
	// send to the old token: 404 {"error":{"message":"Token not found","code":"TOKEN_NOT_FOUND"}}
	// live tokens after: 0
	// new token: true
	// disconnect callbacks: 0
}

// ExampleServer_FailNextSends plays a reverse proxy in front of the gateway
// that answers 502 with an HTML page: the gateway never sees the request,
// so resending it cannot show the event twice.
func ExampleServer_FailNextSends() {
	backend, _ := exampleBackend()
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback")
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := exampleOpen(ctx, gw)
	defer st.Close()

	gw.FailNextSends(1, http.StatusBadGateway)
	for range 2 {
		status, mediaType, _ := exampleSend(gw.URL, st.Token(), "hello")
		fmt.Println("send:", status, mediaType)
	}
	ev, err := st.Next(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("browser got:", ev.Data)
	fmt.Println("attempts:", gw.SendAttempts(), "handled:", len(gw.Sends()))
	// Output:
	// send: 502 text/html
	// send: 200 application/json
	// browser got: hello
	// attempts: 2 handled: 1
}

// ExampleServer_DropStream makes the next write to a stream fail, like a
// browser whose connection broke: the send is answered 500 WRITE_FAILED,
// the stream ends, and the backend gets a disconnect callback with reason
// "error".
func ExampleServer_DropStream() {
	backend, reasons := exampleBackend()
	defer backend.Close()
	gw := gatewaytest.NewServer(backend.URL + "/api/sse/callback")
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := exampleOpen(ctx, gw)
	defer st.Close()

	gw.DropStream(st.Token())
	status, _, body := exampleSend(gw.URL, st.Token(), "lost")
	fmt.Println("send:", status, body)
	_, err := st.Next(ctx)
	fmt.Println("stream:", err)
	fmt.Println("disconnect reason:", <-reasons)
	// Output:
	// send: 500 {"error":{"message":"Write failed: connection closed","code":"WRITE_FAILED"}}
	// stream: EOF
	// disconnect reason: error
}

// ExampleWithCORS serves a page from another origin: the gateway answers
// the browser's preflight and marks every answer, streams included, with
// Access-Control-Allow-Origin.
func ExampleWithCORS() {
	backend, _ := exampleBackend()
	defer backend.Close()
	const origin = "https://app.example.com"
	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback", gatewaytest.WithCORS(origin))
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, gw.URL+"/api/sse/tasks?task_id=42", nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "last-event-id")
	resp, err := exampleClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("preflight:", resp.StatusCode)
	for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
		fmt.Printf("  %s: %s\n", name, resp.Header.Get(name))
	}

	st, err := gw.Connect(ctx, "/api/sse/tasks?task_id=42", http.Header{"Origin": {origin}})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	fmt.Println("stream:", st.StatusCode)
	fmt.Println("  Access-Control-Allow-Origin:", st.Header.Get("Access-Control-Allow-Origin"))
	fmt.Println("  Vary:", st.Header.Get("Vary"))
	// Output:
	// preflight: 204
	//   Access-Control-Allow-Origin: https://app.example.com
	//   Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE
	//   Access-Control-Allow-Headers: last-event-id
	// stream: 200
	//   Access-Control-Allow-Origin: https://app.example.com
	//   Vary: Origin
}
