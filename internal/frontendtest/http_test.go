package frontendtest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHTTP drives the page and the worker through HTTP instead of Gateway,
// on gatewaytest's URL: they see the same answers and events.
func TestHTTP(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("generation %d", gen), func(t *testing.T) {
			b := newBackend(t, gen, true)
			p := &Page{Dial: HTTP(b.gw.URL, nil), StreamURL: DefaultStreamPath + "?request_id=42", Envelope: gen == 2, MaxConnects: 1}
			p.OnOpen = func(int) {
				tok := b.token(t)
				b.send(t, tok, "task_event", `{"event_type":"task_started","task_id":"42","data":{}}`)
				b.send(t, tok, "task_event", `{"event_type":"task_failed","task_id":"42","data":{"error":"x","code":"C"}}`)
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			out, err := p.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := Outcome{Connects: 1, Answers: []string{"200"}, Closed: true,
				Seen: []string{"task_started", "task_failed"}, View: View{Status: "failed", Error: "x", Code: "C"}}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("refused", func(t *testing.T) {
		b := newBackend(t, 1, false)
		p := &Page{Dial: HTTP(b.gw.URL, nil), StreamURL: "/api/sse/tasks?task_id=42", MaxConnects: 2}
		out, err := p.Run(context.Background())
		if !errors.Is(err, ErrStillReconnecting) {
			t.Fatalf("Run: %v, want ErrStillReconnecting", err)
		}
		if diff := cmp.Diff([]string{"400", "400"}, out.Answers); diff != "" {
			t.Errorf("answers (-want +got):\n%s", diff)
		}
		b.gw.RefuseConnections()
		out, _ = p.Run(context.Background())
		if diff := cmp.Diff([]string{"no answer", "no answer"}, out.Answers); diff != "" {
			t.Errorf("answers (-want +got):\n%s", diff)
		}
	})
}
