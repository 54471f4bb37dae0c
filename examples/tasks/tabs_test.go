package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ssegate/ssegate/examples/internal/demotest"
	"github.com/ssegate/ssegate/examples/internal/sseclient"
	"github.com/ssegate/ssegate/task"
)

// TestServerTabs drives the API of -streams tab as its page does, with
// each generation: one stream for the tab, two tasks started for it at
// once, both whole on that stream, after the backend's version, and the
// stream stays open.
func TestServerTabs(t *testing.T) {
	for _, gen := range []string{"1", "2"} {
		t.Run("generation "+gen, func(t *testing.T) {
			backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0", "-generation", gen,
				"-streams", "tab", "-steps", "3", "-step-delay", "5ms")
			client := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(client.CloseIdleConnections)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()

			resp, err := client.Get(backend + "/api/config")
			if err != nil {
				t.Fatal(err)
			}
			var config struct{ Gateway string }
			err = json.NewDecoder(resp.Body).Decode(&config)
			resp.Body.Close()
			if err != nil || config.Gateway == "" {
				t.Fatalf("GET /api/config: %+v, %v", config, err)
			}
			const rid = "tab-1"
			st, err := sseclient.Open(ctx, client, config.Gateway+"/api/sse/stream?request_id="+rid)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()

			resp, err = client.Post(backend+"/api/tasks", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("POST /api/tasks without request_id: %s, want 400", resp.Status)
			}
			var ids []string
			for range 2 {
				resp, err := client.Post(backend+"/api/tasks?request_id="+url.QueryEscape(rid), "", nil)
				if err != nil {
					t.Fatal(err)
				}
				var sr startResponse
				err = json.NewDecoder(resp.Body).Decode(&sr)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusAccepted || sr.StreamURL != "" {
					t.Fatalf("POST /api/tasks: %s %+v %v; want 202 without a stream URL", resp.Status, sr, err)
				}
				ids = append(ids, sr.ID)
			}

			// Read the tab's stream until both tasks completed.
			var names []string
			byTask := map[string][]event{}
			for done := 0; done < 2; {
				ev, err := st.Next(ctx)
				if err != nil {
					t.Fatalf("after %v: %v", names, err)
				}
				ev = ev.Unwrap()
				if ev.Name == "ready" || ev.Name == "" {
					continue
				}
				names = append(names, ev.Name)
				if ev.Name != task.EventName {
					continue
				}
				var m task.Message
				if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
					t.Fatal(err)
				}
				byTask[m.TaskID] = append(byTask[m.TaskID], event{Type: m.EventType, Data: string(m.Data)})
				if m.EventType == task.TypeCompleted {
					done++
				}
			}
			if len(names) == 0 || names[0] != "version" {
				t.Errorf("events %v, want the version first", names)
			}
			for _, id := range ids {
				evs := byTask[id]
				// No connection_close: the tab's stream outlives its tasks.
				if slices.ContainsFunc(evs, func(e event) bool { return e.Type == task.TypeClose }) {
					t.Errorf("task %s sent connection_close on the tab's stream: %v", id, evs)
				}
				evs = append(evs, event{Type: task.TypeClose, Data: `{"reason":"task_completed"}`})
				checkLifecycle(t, evs, 3)
			}
		})
	}
}
