package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/examples/internal/demotest"
	"github.com/ssegate/ssegate/examples/internal/sseclient"
	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// event is one "event" line of the terminal mode, or one event of a stream.
type event struct {
	Type string
	Data string
}

// parseEvents returns the "event <type> <data>" lines of the terminal
// mode's output.
func parseEvents(t *testing.T, out string) []event {
	t.Helper()
	var evs []event
	for line := range strings.SplitSeq(out, "\n") {
		rest, ok := strings.CutPrefix(line, "event ")
		if !ok {
			continue
		}
		typ, data, _ := strings.Cut(strings.TrimSpace(rest), " ")
		evs = append(evs, event{Type: typ, Data: data})
	}
	return evs
}

// checkLifecycle checks a full task lifecycle: task_started, progress
// updates whose values never decrease and end at 1, task_completed with the
// demo's result, connection_close.
func checkLifecycle(t *testing.T, evs []event, steps int) {
	t.Helper()
	var types []string
	for _, ev := range evs {
		if ev.Type == task.TypeProgress && len(types) > 0 && types[len(types)-1] == task.TypeProgress {
			continue // coalesced: how many updates arrive depends on timing
		}
		types = append(types, ev.Type)
	}
	want := []string{task.TypeStarted, task.TypeProgress, task.TypeCompleted, task.TypeClose}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Fatalf("event types, consecutive progress updates merged (-want +got):\n%s\nall events: %v", diff, evs)
	}

	last := -1.0
	for _, ev := range evs {
		if ev.Type != task.TypeProgress {
			continue
		}
		var u task.Update
		if err := json.Unmarshal([]byte(ev.Data), &u); err != nil {
			t.Fatalf("progress_update %s: %v", ev.Data, err)
		}
		if u.Value < last {
			t.Errorf("progress went back from %v to %v: %v", last, u.Value, evs)
		}
		last = u.Value
	}
	if last != 1 {
		t.Errorf("last progress value = %v, want 1", last)
	}

	var res result
	if err := json.Unmarshal([]byte(evs[len(evs)-2].Data), &res); err != nil {
		t.Fatalf("task_completed %s: %v", evs[len(evs)-2].Data, err)
	}
	if res.Steps != steps || res.Message == "" {
		t.Errorf("result = %+v, want %d steps and a message", res, steps)
	}
	if got, want := evs[len(evs)-1].Data, `{"reason":"task_completed"}`; got != want {
		t.Errorf("connection_close data = %s, want %s", got, want)
	}
}

func TestHeadless(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"generation 2", []string{"-generation", "2"}},
		{"generation 1", []string{"-generation", "1"}},
		{"one step without delay", []string{"-steps", "1", "-step-delay", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var out demotest.Output
			args := append([]string{"-headless", "-addr", "127.0.0.1:0", "-steps", "4", "-step-delay", "5ms"}, tt.args...)
			if err := run(ctx, args, &out); err != nil {
				t.Fatalf("run: %v; output:\n%s", err, out.String())
			}
			steps := 4
			if tt.args[0] == "-steps" {
				steps = 1
			}
			checkLifecycle(t, parseEvents(t, out.String()), steps)
			if !strings.Contains(out.String(), "\nstream closed\n") {
				t.Errorf("output does not end with the stream's end:\n%s", out.String())
			}
		})
	}
}

// TestHeadlessExternalGateway runs the terminal mode against a gateway that
// the program does not start, the way it runs against a real one: the
// gateway is told the CALLBACK_URL the program prints.
func TestHeadlessExternalGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out demotest.Output

	gw := demotest.ExternalGateway(t, &out, "s3cr3t", gatewaytest.WithGeneration(1))

	args := []string{"-headless", "-addr", "127.0.0.1:0", "-gateway", gw.URL + "/", "-secret", "s3cr3t",
		"-steps", "3", "-step-delay", "5ms"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v; output:\n%s", err, out.String())
	}
	checkLifecycle(t, parseEvents(t, out.String()), 3)

	cbURL, err := out.WaitLine(ctx, "  CALLBACK_URL=")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cbURL)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Path+"?"+u.RawQuery, "/api/sse/callback?secret=s3cr3t"; got != want {
		t.Errorf("CALLBACK_URL path and query = %q, want %q", got, want)
	}
	if !strings.Contains(out.String(), "gateway:  "+gw.URL+" (external)") {
		t.Errorf("output does not name the external gateway %s:\n%s", gw.URL, out.String())
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"unknown flag", []string{"-bogus"}, "not defined"},
		{"extra argument", []string{"now"}, "unexpected arguments"},
		{"no steps", []string{"-steps", "0"}, "-steps 0"},
		{"negative delay", []string{"-step-delay", "-1s"}, "-step-delay"},
		{"generation 3", []string{"-addr", "127.0.0.1:0", "-generation", "3"}, "generation 3"},
		{"unknown streams", []string{"-streams", "page"}, "-streams"},
		{"headless tab", []string{"-streams", "tab", "-headless"}, "-headless"},
		{"relative gateway URL", []string{"-addr", "127.0.0.1:0", "-gateway", "gateway:3000"}, "gateway URL"},
		{"bad public gateway URL", []string{"-addr", "127.0.0.1:0", "-gateway", "http://127.0.0.1:1", "-public-gateway", "/x"}, "public gateway URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out demotest.Output
			err := run(t.Context(), tt.args, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}

// startTask posts to /api/tasks and returns the answer.
func startTask(t *testing.T, client *http.Client, backend string) startResponse {
	t.Helper()
	resp, err := client.Post(backend+"/api/tasks", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/tasks: %s", resp.Status)
	}
	var sr startResponse
	if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil {
		t.Fatal(err)
	}
	return sr
}

// readStream reads a task stream like the page does, up to its end.
func readStream(t *testing.T, ctx context.Context, st *sseclient.Stream) []event {
	t.Helper()
	var evs []event
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("after %v: %v", evs, err)
		}
		if ev = ev.Unwrap(); ev.Name != task.EventName {
			continue
		}
		var m task.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, event{Type: m.EventType, Data: string(m.Data)})
	}
}

// TestServer drives the HTTP API as the page does, with each generation.
func TestServer(t *testing.T) {
	for _, gen := range []string{"1", "2"} {
		t.Run("generation "+gen, func(t *testing.T) {
			backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0", "-generation", gen, "-steps", "3", "-step-delay", "5ms")
			client := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(client.CloseIdleConnections)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()

			sr := startTask(t, client, backend)
			if !strings.HasPrefix(sr.StreamURL, "http://127.0.0.1:") || !strings.Contains(sr.StreamURL, "/api/sse/tasks?task_id="+sr.ID) {
				t.Errorf("stream_url = %q, want the gateway's absolute URL of task %s", sr.StreamURL, sr.ID)
			}
			if sr.Status != task.StatusPending {
				t.Errorf("status = %q, want %q", sr.Status, task.StatusPending)
			}
			st, err := sseclient.Open(ctx, client, sr.StreamURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			checkLifecycle(t, readStream(t, ctx, st), 3)

			resp, err := client.Get(backend + "/api/tasks/" + sr.ID)
			if err != nil {
				t.Fatal(err)
			}
			var state taskState
			err = json.NewDecoder(resp.Body).Decode(&state)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if state.Status != task.StatusCompleted || state.Progress.Value != 1 || len(state.Result) == 0 {
				t.Errorf("GET /api/tasks/{id} = %+v, want completed at 1 with a result", state)
			}
		})
	}
}

// TestServerCORS checks that a page served by the backend may open its
// EventSource on the embedded gateway, another origin.
func TestServerCORS(t *testing.T) {
	backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0", "-steps", "1", "-step-delay", "0s")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	sr := startTask(t, client, backend)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sr.StreamURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", backend)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != backend {
		t.Errorf("Access-Control-Allow-Origin = %q, want the page's origin %q", got, backend)
	}
}

func TestServerErrors(t *testing.T) {
	backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/api/tasks/nope/cancel", http.StatusNotFound},
		{http.MethodGet, "/api/tasks/nope", http.StatusNotFound},
		{http.MethodPost, "/api/sse/callback", http.StatusUnauthorized},              // no secret
		{http.MethodPost, "/api/sse/callback?secret=wrong", http.StatusUnauthorized}, // wrong secret
		{http.MethodDelete, "/api/tasks", http.StatusMethodNotAllowed},
		{http.MethodGet, "/nope.html", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, backend+tt.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s %s: %s, want %d", tt.method, tt.path, resp.Status, tt.want)
			}
		})
	}
}

// TestPage checks that the page and its assets are served, and that they
// load nothing from elsewhere.
func TestPage(t *testing.T) {
	backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	tests := []struct {
		path, contentType, contains string
	}{
		{"/", "text/html; charset=utf-8", `role="progressbar"`},
		{"/app.js", "text/javascript; charset=utf-8", "new EventSource("},
		{"/base.css", "text/css; charset=utf-8", ".progress"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(backend + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tt.contentType {
				t.Fatalf("GET %s: %s %s, want 200 %s", tt.path, resp.Status, resp.Header.Get("Content-Type"), tt.contentType)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("GET %s does not contain %q", tt.path, tt.contains)
			}
			for _, ext := range []string{"http://", "https://", "//cdn", "@import"} {
				if strings.Contains(string(body), ext) {
					t.Errorf("GET %s refers to %q: the page must work offline", tt.path, ext)
				}
			}
		})
	}
}

// TestShutdownCancelsRunningTasks stops the program while a task runs: the
// browser still learns that the task was cancelled, and the stream ends.
func TestShutdownCancelsRunningTasks(t *testing.T) {
	out := &demotest.Output{}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-step-delay", "1h"}, out) }()
	wctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	line, err := out.WaitLine(wctx, "open ")
	if err != nil {
		stop()
		<-done
		t.Fatal(err)
	}
	backend := strings.TrimSuffix(strings.Fields(line)[0], "/")

	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	sr := startTask(t, client, backend)
	st, err := sseclient.Open(wctx, client, sr.StreamURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Wait until the task runs and its stream is live.
	for {
		ev, err := st.Next(wctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(ev.Data, task.TypeProgress) {
			break
		}
	}

	stop() // SIGINT
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-wctx.Done():
		t.Fatal("run did not return after its context was cancelled")
	}
	want := []event{
		{Type: task.TypeFailed, Data: `{"error":"task cancelled","code":"CANCELLED"}`},
		{Type: task.TypeClose, Data: `{"reason":"task_cancelled"}`},
	}
	if diff := cmp.Diff(want, readStream(t, wctx, st)); diff != "" {
		t.Errorf("events after shutdown (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), "shutting down") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestHeadlessReplicas runs the terminal mode as two replicas sharing tasks
// through RabbitMQ: the connect callback of the task's stream goes to the
// replica that does not run the task, which follows it through the bus.
func TestHeadlessReplicas(t *testing.T) {
	broker := testenv.Require(t, testenv.RabbitMQ)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out demotest.Output
	args := []string{"-headless", "-addr", "127.0.0.1:0", "-steps", "4", "-step-delay", "20ms",
		"-replicas", "2", "-amqp", broker}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v; output:\n%s", err, out.String())
	}
	checkLifecycle(t, parseEvents(t, out.String()), 4)
	if !strings.Contains(out.String(), "\nstream closed\n") {
		t.Errorf("output does not end with the stream's end:\n%s", out.String())
	}
}
