package gatewaytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// push sends one event to a gateway's /internal/send, as a backend does.
func push(gatewayURL, token, name, data string, closeStream bool) error {
	body, err := json.Marshal(map[string]any{
		"token": token,
		"event": map[string]string{"name": name, "data": data},
		"close": closeStream,
	})
	if err != nil {
		return err
	}
	resp, err := http.Post(gatewayURL+"/internal/send", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("send: %s: %s", resp.Status, answer)
	}
	return nil
}

// ExampleServer runs a generation-2 gateway in front of a minimal backend.
// The backend accepts every connection and, from inside its connect
// handler, sends a snapshot, which the gateway buffers and delivers before
// "ready". The example then plays the browser, and pushes one more event as
// the backend would.
func ExampleServer() {
	var gw *gatewaytest.Server
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb struct {
			Action string `json:"action"`
			Token  string `json:"token"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cb); err != nil {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		if cb.Action == "connect" {
			if err := push(gw.URL, cb.Token, "snapshot", `{"progress":0}`, false); err != nil {
				log.Print(err)
			}
		}
		_, _ = io.WriteString(w, "{}")
	}))
	defer backend.Close()

	gw = gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret=s3cr3t", gatewaytest.WithGeneration(2))
	defer gw.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := gw.Connect(ctx, "/api/sse/tasks?task_id=42", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	fmt.Println("status:", st.StatusCode)

	for {
		ev, err := st.Next(ctx)
		if err == io.EOF {
			fmt.Println("stream ended")
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(strings.TrimSpace(fmt.Sprintf("browser got %q %s", ev.Name, ev.Data)))
		if u := ev.Unwrap(); u != ev {
			fmt.Printf("  backend sent %q %s\n", u.Name, u.Data)
		}
		if ev.Name == "ready" {
			if err := push(gw.URL, st.Token(), "task_event", `{"progress":1}`, true); err != nil {
				log.Fatal(err)
			}
		}
	}
	// Output:
	// status: 200
	// browser got "" {"type":"snapshot","payload":{"progress":0}}
	//   backend sent "snapshot" {"progress":0}
	// browser got "ready"
	// browser got "" {"type":"task_event","payload":{"progress":1}}
	//   backend sent "task_event" {"progress":1}
	// stream ended
}
