package yourapp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/examples/yourapp"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

func TestNotify(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprint("generation ", gen), func(t *testing.T) {
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
			if err := yourapp.Routes(mux, conns, "test"); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			st, err := gw.Connect(ctx, "/api/sse/users/42", nil) // the browser of user 42
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(st.Close)
			if err := yourapp.Notify(ctx, conns, "42", "hello"); err != nil {
				t.Fatal(err)
			}
			if err := yourapp.Notify(ctx, conns, "7", "nobody listens"); err != nil {
				t.Fatal(err)
			}

			// What the gateway received, as public gatewaytest types.
			wantSends := []gatewaytest.SendRequest{
				{Token: st.Token(), Event: &gatewaytest.Event{Name: "notice", Data: `{"text":"hello"}`}},
			}
			if diff := cmp.Diff(wantSends, gw.Sends()); diff != "" {
				t.Errorf("sends (-want +got):\n%s", diff)
			}
			// What the browser received.
			for {
				ev, err := st.Next(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if ev = ev.Unwrap(); ev.Name == "ready" {
					continue // the gateway's own
				}
				want := gatewaytest.Event{Name: "notice", Data: `{"text":"hello"}`}
				if diff := cmp.Diff(want, ev); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
				break
			}

			// The browser leaves: its mapping goes away.
			st.Close()
			if err := gw.WaitGone(ctx, st.Token()); err != nil {
				t.Fatal(err)
			}
			gw.Close() // waits for the disconnect callback
			if conns.Connected("user:42") {
				t.Error("user:42 still connected after its browser left")
			}
		})
	}
}
