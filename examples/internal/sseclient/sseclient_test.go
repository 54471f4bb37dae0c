package sseclient_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/examples/internal/sseclient"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve answers every request with status, content type and body.
func serve(t testing.TB, status int, contentType, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// readAll reads every event until the end of the stream.
func readAll(t testing.TB, url string) ([]gatewaytest.Event, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	st, err := sseclient.Open(ctx, client, url)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var evs []gatewaytest.Event
	for {
		ev, err := st.Next(ctx)
		if errors.Is(err, io.EOF) {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []gatewaytest.Event
	}{
		{
			name: "generation 1 named event",
			body: "event: task_event\ndata: {\"a\":1}\n\n",
			want: []gatewaytest.Event{{Name: "task_event", Data: `{"a":1}`}},
		},
		{
			name: "generation 2 envelope, ready and heartbeat",
			body: ": heartbeat\n\ndata: {\"type\":\"x\",\"payload\":{}}\n\nevent: ready\ndata:\n\n",
			want: []gatewaytest.Event{{Data: `{"type":"x","payload":{}}`}, {Name: "ready"}},
		},
		{
			name: "multi-line data, CRLF, no space after colon",
			body: "data:one\r\ndata: two\r\n\r\n",
			want: []gatewaytest.Event{{Data: "one\ntwo"}},
		},
		{
			name: "lone CR ends lines",
			body: "event: e\rdata: a\rdata: b\r\rdata: c\n\n",
			want: []gatewaytest.Event{{Name: "e", Data: "a\nb"}, {Data: "c"}},
		},
		{
			name: "event without data is not dispatched; name does not leak",
			body: "event: lonely\n\ndata: x\n\n",
			want: []gatewaytest.Event{{Data: "x"}},
		},
		{
			name: "unknown fields and an unfinished last event are ignored",
			body: "id: 7\nretry: 10\ndata: a\n\ndata: cut",
			want: []gatewaytest.Event{{Data: "a"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, serve(t, http.StatusOK, "text/event-stream", tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenRefused(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        string
	}{
		{"gateway error", http.StatusServiceUnavailable, "application/json", `{"error":{"code":"BACKEND_UNAVAILABLE"}}`, "BACKEND_UNAVAILABLE"},
		{"not a stream", http.StatusOK, "text/html", "<p>hi</p>", "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readAll(t, serve(t, tt.status, tt.contentType, tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEventTooLarge(t *testing.T) {
	body := "data: " + strings.Repeat("x", sseclient.MaxEventBytes) + "\n\n"
	_, err := readAll(t, serve(t, http.StatusOK, "text/event-stream", body))
	if !errors.Is(err, sseclient.ErrEventTooLarge) {
		t.Errorf("Next: %v, want ErrEventTooLarge", err)
	}
}

// TestNextContext checks that a context that ends stops a Next waiting for
// an event that never comes.
func TestNextContext(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	st, err := sseclient.Open(t.Context(), client, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := st.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next: %v, want context.DeadlineExceeded", err)
	}
}
