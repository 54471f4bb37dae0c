package frontendtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPageReconnects checks the page's reconnect schedule: after an error
// status its own retry (PageRetry), after a stream that ends or a connect
// without an answer the browser's (BrowserRetry); and that it gives up
// only at MaxConnects.
func TestPageReconnects(t *testing.T) {
	d := TestDelays()
	tests := []struct {
		name    string
		gen     int
		refuse  bool // the gateway refuses TCP connections
		answers []string
		waits   []time.Duration
	}{
		{"error status", 1, false, []string{"400", "400", "400"}, []time.Duration{d.PageRetry, d.PageRetry}},
		{"stream that ends", 2, false, []string{"200", "200", "200"}, []time.Duration{d.BrowserRetry, d.BrowserRetry}},
		{"no answer", 1, true, []string{"no answer", "no answer", "no answer"}, []time.Duration{d.BrowserRetry, d.BrowserRetry}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, tt.gen, false) // no route: every stream is rejected
			if tt.refuse {
				b.gw.RefuseConnections()
			}
			p := &Page{Dial: Gateway(b.gw, nil), StreamURL: "/api/sse/tasks?task_id=42", MaxConnects: 3}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			out, err := p.Run(ctx)
			if !errors.Is(err, ErrStillReconnecting) {
				t.Fatalf("Run: %v, want ErrStillReconnecting", err)
			}
			want := Outcome{Connects: 3, Answers: tt.answers, Waits: tt.waits}
			if diff := cmp.Diff(want, out); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPageShows checks what the page shows and when it closes, for each
// task_event it may receive, named (generation-1 gateway) or in envelopes.
func TestPageShows(t *testing.T) {
	tests := []struct {
		name     string
		envelope bool
		events   []string // task_event data
		want     Outcome
	}{
		{
			name: "completed",
			events: []string{
				`{"event_type":"task_started","task_id":"42","data":{}}`,
				`{"event_type":"progress_update","task_id":"42","data":{"text":"half","value":0.5}}`,
				`{"event_type":"task_completed","task_id":"42","data":{"success":true}}`,
			},
			want: Outcome{Connects: 1, Answers: []string{"200"}, Closed: true,
				Seen: []string{"task_started", "progress_update", "task_completed"},
				View: View{Status: "completed", Text: "half", Value: 0.5, Result: []byte(`{"success":true}`)}},
		},
		{
			name:     "failed with a code, in envelopes",
			envelope: true,
			events: []string{
				`{"event_type":"task_failed","task_id":"42","data":{"error":"task not found","code":"TASK_NOT_FOUND"}}`,
			},
			want: Outcome{Connects: 1, Answers: []string{"200"}, Closed: true, Seen: []string{"task_failed"},
				View: View{Status: "failed", Error: "task not found", Code: "TASK_NOT_FOUND"}},
		},
		{
			name: "ignored events, then failed",
			events: []string{
				`not json`,
				`{"event_type":"task_cancelled","task_id":"42","data":{}}`,
				`{"event_type":"error","task_id":"42","data":{"error":"x"}}`,
				`{"event_type":"task_failed","task_id":"42","data":{"error":"disk full"}}`,
			},
			want: Outcome{Connects: 1, Answers: []string{"200"}, Closed: true,
				Seen: []string{"task_cancelled", "error", "task_failed"},
				View: View{Status: "failed", Error: "disk full"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen := 1
			if tt.envelope {
				gen = 2
			}
			b := newBackend(t, gen, true)
			p := &Page{Dial: Gateway(b.gw, nil), StreamURL: DefaultStreamPath + "?request_id=42", Envelope: tt.envelope, MaxConnects: 1}
			p.OnOpen = func(int) {
				tok := b.token(t)
				if tt.envelope {
					b.send(t, tok, "version", `{"version":"2.0.0"}`) // an envelope of another type
				} else {
					b.send(t, tok, "", `{"type":"task_event","payload":{"event_type":"progress_update"}}`) // onmessage: no listener
				}
				for _, data := range tt.events {
					b.send(t, tok, "task_event", data)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			out, err := p.Run(ctx)
			if err != nil {
				t.Fatalf("Run: %v (outcome %+v)", err, out)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPageWithoutDial(t *testing.T) {
	if _, err := (&Page{}).Run(context.Background()); err == nil {
		t.Error("Run without Dial succeeded")
	}
}

func TestDelaysResolve(t *testing.T) {
	r := RealDelays()
	want := Delays{PageRetry: r.PageRetry / 1000, BrowserRetry: r.BrowserRetry / 1000,
		WorkerBackoff: r.WorkerBackoff / 1000, WorkerBackoffMax: r.WorkerBackoffMax / 1000}
	if diff := cmp.Diff(want, Delays{}.resolve()); diff != "" {
		t.Errorf("zero Delays (-want +got):\n%s", diff)
	}
	set := Delays{PageRetry: time.Hour}
	if got := set.resolve(); got.PageRetry != time.Hour || got.BrowserRetry != want.BrowserRetry {
		t.Errorf("resolve kept %v, %v", got.PageRetry, got.BrowserRetry)
	}
}
