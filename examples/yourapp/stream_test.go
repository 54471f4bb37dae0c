package yourapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTaskStream(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprint("generation ", gen), func(t *testing.T) {
			// Your backend's callback route on a loopback server, and a gateway in front of it.
			mux := http.NewServeMux()
			backend := httptest.NewServer(mux)
			t.Cleanup(backend.Close)
			gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret=test", gatewaytest.WithGeneration(gen))
			t.Cleanup(gw.Close)

			conns, err := sseconn.New(gw.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conns.Shutdown(context.Background()) })
			runner, err := task.New(conns)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { runner.Shutdown(context.Background()) })
			cb, err := callback.NewHandler(callback.WithSecret("test"), callback.WithRoute(runner.Matcher(), runner))
			if err != nil {
				t.Fatal(err)
			}
			mux.Handle("POST /api/sse/callback", cb)

			connected := make(chan struct{})
			info, err := runner.Start(t.Context(), func(ctx context.Context, p *task.Progress) (any, error) {
				select {
				case <-connected: // report while the browser is listening
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				p.Report("halfway", 0.5)
				return "done", nil
			})
			if err != nil {
				t.Fatal(err)
			}

			// Play the browser: open the stream, read events with a deadline.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			st, err := gw.Connect(ctx, info.StreamURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			close(connected)

			var got []string
			for {
				ev, err := st.Next(ctx)
				if errors.Is(err, io.EOF) {
					break // the backend closed the stream
				}
				if err != nil {
					t.Fatal(err)
				}
				if ev = ev.Unwrap(); ev.Name != task.EventName { // Unwrap: same events in both generations
					continue // the gateway's own "ready"
				}
				var m task.Message
				if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
					t.Fatal(err)
				}
				got = append(got, m.EventType)
			}
			want := []string{"task_started", "progress_update", "task_completed", "connection_close"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}
