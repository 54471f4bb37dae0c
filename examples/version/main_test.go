package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/examples/internal/demo"
	"github.com/ssegate/ssegate/examples/internal/demotest"
	"github.com/ssegate/ssegate/examples/internal/sseclient"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/version"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// eventLines returns the "event …" lines of the terminal mode's output.
func eventLines(out string) []string {
	var lines []string
	for line := range strings.SplitSeq(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "event "); ok {
			lines = append(lines, strings.TrimSpace(rest))
		}
	}
	return lines
}

func TestHeadless(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "generation 2",
			args: []string{"-generation", "2"},
			want: []string{`version {"version":"1.0.0"}`, `version {"version":"1.1.0","changelog":"Faster start-up"}`},
		},
		{
			name: "generation 1, other versions",
			args: []string{"-generation", "1", "-version", "2.0.0", "-publish", "2.1.0", "-changelog", ""},
			want: []string{`version {"version":"2.0.0"}`, `version {"version":"2.1.0"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var out demotest.Output
			args := append([]string{"-headless", "-addr", "127.0.0.1:0"}, tt.args...)
			if err := run(ctx, args, &out); err != nil {
				t.Fatalf("run: %v; output:\n%s", err, out.String())
			}
			if diff := cmp.Diff(tt.want, eventLines(out.String())); diff != "" {
				t.Errorf("events (-want +got):\n%s\noutput:\n%s", diff, out.String())
			}
			if !strings.Contains(out.String(), "to 1 connected page(s)") {
				t.Errorf("the broadcast did not reach exactly the one page:\n%s", out.String())
			}
		})
	}
}

func TestHeadlessExternalGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out demotest.Output
	gw := demotest.ExternalGateway(t, &out, "s3cr3t", gatewaytest.WithGeneration(2))
	args := []string{"-headless", "-addr", "127.0.0.1:0", "-gateway", gw.URL, "-secret", "s3cr3t"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v; output:\n%s", err, out.String())
	}
	want := []string{`version {"version":"1.0.0"}`, `version {"version":"1.1.0","changelog":"Faster start-up"}`}
	if diff := cmp.Diff(want, eventLines(out.String())); diff != "" {
		t.Errorf("events (-want +got):\n%s\noutput:\n%s", diff, out.String())
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-bogus"}, "not defined"},
		{"extra argument", []string{"now"}, "unexpected arguments"},
		{"empty version", []string{"-version", ""}, "must not be empty"},
		{"generation not a number", []string{"-generation", "x"}, "invalid value"},
		{"generation 3", []string{"-addr", "127.0.0.1:0", "-generation", "3"}, "generation 3"},
		{"relative version URL", []string{"-addr", "127.0.0.1:0", "-version-url", "/version.json"}, "absolute http or https URL"},
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

// post posts body to the backend's path and decodes the JSON answer.
func post(t *testing.T, client *http.Client, url, body string, v any) int {
	t.Helper()
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// TestServer drives the API as pages and a deploy do: two pages connect,
// a version is published, both get it, and version.json serves it.
func TestServer(t *testing.T) {
	backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0", "-generation", "1")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	resp, err := client.Get(backend + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	var cfg pageConfig
	err = json.NewDecoder(resp.Body).Decode(&cfg)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.StreamURL, "http://127.0.0.1:") || !strings.HasSuffix(cfg.StreamURL, version.DefaultPath) || cfg.Param != version.DefaultParam {
		t.Fatalf("config = %+v", cfg)
	}

	var streams []*sseclient.Stream
	for _, id := range []string{"tab-a", "tab-b"} {
		st, err := sseclient.Open(ctx, client, cfg.StreamURL+"?"+cfg.Param+"="+id)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ev, err := demo.ReadEvent(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(gatewaytest.Event{Name: "version", Data: `{"version":"1.0.0"}`}, ev); diff != "" {
			t.Errorf("%s: first event (-want +got):\n%s", id, diff)
		}
		streams = append(streams, st)
	}

	var pub publishResponse
	if code := post(t, client, backend+"/api/version", `{"version":"1.2.0","changelog":"Dark mode"}`, &pub); code != http.StatusOK {
		t.Fatalf("POST /api/version: %d", code)
	}
	wantPub := publishResponse{Version: "1.2.0", Deliveries: []delivery{
		{RequestID: "tab-a", Status: "delivered"}, {RequestID: "tab-b", Status: "delivered"},
	}}
	if diff := cmp.Diff(wantPub, pub); diff != "" {
		t.Errorf("POST /api/version (-want +got):\n%s", diff)
	}
	for _, st := range streams {
		ev, err := demo.ReadEvent(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(gatewaytest.Event{Name: "version", Data: `{"version":"1.2.0","changelog":"Dark mode"}`}, ev); diff != "" {
			t.Errorf("broadcast event (-want +got):\n%s", diff)
		}
	}

	resp, err = client.Get(backend + "/version.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if got, want := strings.TrimSpace(string(body)), `{"version":"1.2.0","changelog":"Dark mode"}`; got != want {
		t.Errorf("version.json = %s, want %s", got, want)
	}

	// A page that opens now gets the published version as the current one.
	st, err := sseclient.Open(ctx, client, cfg.StreamURL+"?"+cfg.Param+"=tab-c")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ev, err := demo.ReadEvent(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(gatewaytest.Event{Name: "version", Data: `{"version":"1.2.0","changelog":"Dark mode"}`}, ev); diff != "" {
		t.Errorf("a new page's first event (-want +got):\n%s", diff)
	}
}

func TestPublishErrors(t *testing.T) {
	backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	tests := []struct {
		name, body string
		want       int
	}{
		{"not JSON", "1.2.0", http.StatusBadRequest},
		{"no version", `{"changelog":"x"}`, http.StatusBadRequest},
		{"too large", `{"version":"1","changelog":"` + strings.Repeat("x", 100<<10) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := post(t, client, backend+"/api/version", tt.body, nil); code != tt.want {
				t.Errorf("POST /api/version %s: %d, want %d", tt.name, code, tt.want)
			}
		})
	}
}

func TestPage(t *testing.T) {
	backend, _ := demotest.Serve(t, run, "-addr", "127.0.0.1:0")
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for _, tt := range []struct{ path, contains string }{
		{"/", `id="banner"`},
		{"/app.js", "new EventSource("},
		{"/style.css", ".banner"},
		{"/base.css", ".progress"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := client.Get(backend + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tt.contains) {
				t.Errorf("GET %s: %s, want 200 with %q", tt.path, resp.Status, tt.contains)
			}
			for _, ext := range []string{"http://", "https://", "//cdn", "@import"} {
				if strings.Contains(string(body), ext) {
					t.Errorf("GET %s refers to %q: the page must work offline", tt.path, ext)
				}
			}
		})
	}
}
