package version_test

// Tests with the generation-2 tab worker of the real frontend (see
// internal/frontendtest): one EventSource per tab at
// /api/sse/stream?request_id=<tab>, every message read from onmessage
// envelopes, reconnects with backoff. Version events reach it today through
// version.WithPath; task events on the same stream are the per-tab model's
// part.

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/frontendtest"
	"github.com/ssegate/ssegate/version"
)

const workerTimeout = 10 * time.Second

// startWorker starts a generation-2 worker for tab rid on s's gateway,
// stopped at the end of the test.
func startWorker(t *testing.T, s *stack, rid string) *frontendtest.Worker {
	t.Helper()
	w := &frontendtest.Worker{Dial: frontendtest.Gateway(s.gw, nil), RequestID: rid}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// waitWorker waits until cond holds for w's state.
func waitWorker(t *testing.T, w *frontendtest.Worker, what string, cond func(frontendtest.WorkerState) bool) frontendtest.WorkerState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), workerTimeout)
	defer cancel()
	st, err := w.Wait(ctx, cond)
	if err != nil {
		t.Fatalf("worker %s: waiting for %s: %v (state %+v)", w.RequestID, what, err, st)
	}
	return st
}

func versionsAre(n int) func(frontendtest.WorkerState) bool {
	return func(s frontendtest.WorkerState) bool { return len(s.Versions()) >= n }
}

// versionsOf renders the version payloads a worker received.
func versionsOf(s frontendtest.WorkerState) []string {
	var out []string
	for _, p := range s.Versions() {
		var info version.Info
		if err := json.Unmarshal(p, &info); err != nil {
			out = append(out, "invalid: "+string(p))
			continue
		}
		out = append(out, info.Version)
	}
	return out
}

// TestFrontendWorkerVersion runs two tabs' workers against a notifier on
// the tab stream's route: each gets the current version when it connects,
// its own notifications, and every broadcast, on one stream each.
func TestFrontendWorkerVersion(t *testing.T) {
	s := newStack(t, stackConfig{
		gen:  2,
		src:  version.Static{Version: "1.0.0"},
		opts: []version.Option{version.WithPath(frontendtest.DefaultStreamPath, "request_id")},
	})
	ctx, cancel := context.WithTimeout(context.Background(), workerTimeout)
	defer cancel()
	a := startWorker(t, s, "tab-a")
	b := startWorker(t, s, "tab-b")
	waitWorker(t, a, "the current version", versionsAre(1))
	waitWorker(t, b, "the current version", versionsAre(1))

	if d, err := s.n.Notify(ctx, "tab-a", version.Info{Version: "1.1.0"}); err != nil || d.Status != version.Delivered {
		t.Fatalf("Notify: %+v, %v; want delivered", d, err)
	}
	waitWorker(t, a, "its notification", versionsAre(2))
	if _, err := s.n.Broadcast(ctx, version.Info{Version: "2.0.0", Changelog: "New editor"}); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	got := map[string]frontendtest.WorkerState{
		"tab-a": waitWorker(t, a, "the broadcast", versionsAre(3)),
		"tab-b": waitWorker(t, b, "the broadcast", versionsAre(2)),
	}
	want := map[string][]string{
		"tab-a": {"1.0.0", "1.1.0", "2.0.0"},
		"tab-b": {"1.0.0", "2.0.0"},
	}
	for rid, st := range got {
		if diff := cmp.Diff(want[rid], versionsOf(st)); diff != "" {
			t.Errorf("%s versions (-want +got):\n%s", rid, diff)
		}
		if st.Connects != 1 || st.Opens != 1 || st.Closed {
			t.Errorf("%s: %d connects, %d opens, closed %v; want one open stream", rid, st.Connects, st.Opens, st.Closed)
		}
	}
}

// TestFrontendWorkerReconnects ends the worker's stream with a gateway
// restart while the gateway refuses connections: it reconnects with the same request id after the first
// backoff step (an open stream resets the backoff), backs off 1, 2, 4, …
// while nobody answers, and gets the versions it missed once it is back.
func TestFrontendWorkerReconnects(t *testing.T) {
	s := newStack(t, stackConfig{
		gen:  2,
		src:  version.Static{Version: "1.0.0"},
		opts: []version.Option{version.WithPath(frontendtest.DefaultStreamPath, "request_id")},
	})
	ctx, cancel := context.WithTimeout(context.Background(), workerTimeout)
	defer cancel()
	w := startWorker(t, s, "tab-a")
	waitWorker(t, w, "the current version", versionsAre(1))

	s.gw.RefuseConnections()
	s.gw.Restart() // the stream ends; its token is forgotten
	waitWorker(t, w, "4 refused connects", func(st frontendtest.WorkerState) bool { return st.Connects >= 5 })
	if d, err := s.n.Notify(ctx, "tab-a", version.Info{Version: "1.1.0"}); err != nil || d.Status != version.Pending {
		t.Fatalf("Notify while away: %+v, %v; want pending", d, err)
	}
	s.gw.AcceptConnections()
	st := waitWorker(t, w, "the missed version", versionsAre(2))

	if diff := cmp.Diff([]string{"1.0.0", "1.1.0"}, versionsOf(st)); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	base := frontendtest.TestDelays().WorkerBackoff
	wantWaits := []time.Duration{base, 2 * base, 4 * base, 8 * base}
	if diff := cmp.Diff(wantWaits, st.Waits[:4]); diff != "" {
		t.Errorf("backoff before each reconnect (-want +got):\n%s", diff)
	}
	wantAnswers := []string{"200", "no answer", "no answer", "no answer", "no answer"}
	if diff := cmp.Diff(wantAnswers, st.Answers[:5]); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if st.Answers[len(st.Answers)-1] != "200" || st.Opens != 2 {
		t.Errorf("answers %q, %d opens; want the last connect open, 2 opens", st.Answers, st.Opens)
	}
}

// TestFrontendWorkerRejected runs the worker against a backend whose
// version stream is on its default route, so that the tab stream matches
// no route. A generation-2 gateway answers 200 with a "rejected" event and
// ends the stream; the worker does not handle "rejected", sees an error,
// and because the stream opened (onopen reset the backoff), reconnects
// every WorkerBackoff (1 s in a browser) for as long as the tab is open. A
// generation-1 gateway answers with the error status, and the worker backs
// off 1, 2, 4, ….
func TestFrontendWorkerRejected(t *testing.T) {
	base := frontendtest.TestDelays().WorkerBackoff
	tests := []struct {
		gen         int
		wantAnswers []string
		wantWaits   []time.Duration
	}{
		{1, []string{"400", "400", "400", "400"}, []time.Duration{base, 2 * base, 4 * base}},
		{2, []string{"200", "200", "200", "200"}, []time.Duration{base, base, base}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("generation %d", tt.gen), func(t *testing.T) {
			s := newStack(t, stackConfig{gen: tt.gen})
			w := startWorker(t, s, "tab-a")
			st := waitWorker(t, w, "4 connects", func(st frontendtest.WorkerState) bool { return st.Connects >= 4 })
			w.Stop()
			got := struct {
				Answers  []string
				Waits    []time.Duration
				Messages int
			}{st.Answers[:4], st.Waits[:3], len(st.Messages)}
			want := struct {
				Answers  []string
				Waits    []time.Duration
				Messages int
			}{tt.wantAnswers, tt.wantWaits, 0}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("worker (-want +got):\n%s", diff)
			}
		})
	}
}
