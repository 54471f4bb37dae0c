package gatewaytest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// rawStream opens a stream with a plain HTTP GET and returns its body and
// token, for tests of the exact bytes on the wire.
func rawStream(t *testing.T, gw *gatewaytest.Server, b *backend, path string) (*bufio.Reader, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	return bufio.NewReader(resp.Body), next(t, b.connects, "connect").cb.Token
}

// TestFraming checks the bytes a browser receives for named, unnamed and
// multi-line events, and how they parse, under both generations.
func TestFraming(t *testing.T) {
	events := []wire.Event{
		{Name: "task_event", Data: `{"progress":0.5}`},
		{Data: "line1\nline2"},
		{Name: "multi", Data: "{\n\"a\": 1\n}"},
		{Data: ""},
		{Name: "note", Data: `"a string"`},
	}
	tests := []struct {
		gen  int
		wire string
	}{
		{1, "" +
			"event: task_event\ndata: {\"progress\":0.5}\n\n" +
			"data: line1\ndata: line2\n\n" +
			"event: multi\ndata: {\ndata: \"a\": 1\ndata: }\n\n" +
			"data: \n\n" +
			"event: note\ndata: \"a string\"\n\n"},
		{2, "" +
			"event: ready\ndata:\n\n" +
			"data: {\"type\":\"task_event\",\"payload\":{\"progress\":0.5}}\n\n" +
			"data: line1\ndata: line2\n\n" +
			// The envelope is written raw on one line, LFs of the data
			// included, as the reference gateway does.
			"data: {\"type\":\"multi\",\"payload\":{\n\"a\": 1\n}}\n\n" +
			"data: \n\n" +
			"data: {\"type\":\"note\",\"payload\":\"a string\"}\n\n"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("gen%d", tt.gen), func(t *testing.T) {
			b := newBackend(t, nil)
			gw := newGateway(t, b.callbackURL(), gatewaytest.WithGeneration(tt.gen))

			// The bytes on the wire.
			r, token := rawStream(t, gw, b, "/raw")
			for _, ev := range events {
				sendOK(t, gw, token, &ev, false)
			}
			sendOK(t, gw, token, nil, true)
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wire, string(got)); diff != "" {
				t.Errorf("stream bytes (-want +got):\n%s", diff)
			}

			// The same, parsed: Unwrap gives back what the backend sent,
			// but for generation 2's envelope of data with an LF, which
			// the browser reads up to the LF only (sseconn refuses such an
			// event).
			st := openStream(t, gw, tt.gen, "/parsed")
			for _, ev := range events {
				sendOK(t, gw, st.Token(), &ev, false)
			}
			sendOK(t, gw, st.Token(), nil, true)
			var want, unwrapped []gatewaytest.Event
			for _, ev := range events {
				w := gatewaytest.Event{Name: ev.Name, Data: ev.Data}
				if tt.gen == 2 && ev.Name == "multi" {
					w = gatewaytest.Event{Data: `{"type":"multi","payload":{`}
				}
				want = append(want, w)
			}
			for _, ev := range readAll(t, st) {
				unwrapped = append(unwrapped, ev.Unwrap())
			}
			if diff := cmp.Diff(want, unwrapped); diff != "" {
				t.Errorf("unwrapped events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGen2ControlNames checks that generation 2 does not wrap events named
// ready or rejected, writes ready as its fixed frame, without the data, and
// the data of rejected raw on one line, as the reference gateway does.
func TestGen2ControlNames(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	sendOK(t, gw, st.Token(), &wire.Event{Name: "ready", Data: "again"}, false)
	sendOK(t, gw, st.Token(), &wire.Event{Name: "rejected", Data: "{}\nrest"}, true)
	want := []gatewaytest.Event{{Name: "ready"}, {Name: "rejected", Data: "{}"}}
	if diff := cmp.Diff(want, readAll(t, st)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestHeartbeat waits for heartbeat comments on the wire.
func TestHeartbeat(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("gen%d", gen), func(t *testing.T) {
			b := newBackend(t, nil)
			gw := newGateway(t, b.callbackURL(), gatewaytest.WithGeneration(gen), gatewaytest.WithHeartbeat(20*time.Millisecond))
			r, _ := rawStream(t, gw, b, "/x")
			if gen == 2 {
				readLines(t, r, "event: ready", "data:", "")
			}
			// Two heartbeats in a row, and nothing else.
			readLines(t, r, ": heartbeat", "", ": heartbeat", "")
		})
	}
}

// readLines reads len(want) lines from r and compares them with want.
func readLines(t *testing.T, r *bufio.Reader, want ...string) {
	t.Helper()
	var got []string
	for range want {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after lines %q: %v", got, err)
		}
		got = append(got, strings.TrimSuffix(line, "\n"))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("lines (-want +got):\n%s", diff)
	}
}

// TestHeartbeatsAreNotEvents checks that Next skips heartbeats.
func TestHeartbeatsAreNotEvents(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL(), gatewaytest.WithHeartbeat(time.Millisecond))
	st := openStream(t, gw, 2, "/x")
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if ev, err := st.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next = %+v, %v; want no event before the deadline", ev, err)
	}
	sendOK(t, gw, st.Token(), &wire.Event{Data: "after heartbeats"}, false)
	if diff := cmp.Diff(gatewaytest.Event{Data: "after heartbeats"}, nextEvent(t, st)); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
}

// TestDisconnectReasons checks the disconnect callback of each way a
// stream ends.
func TestDisconnectReasons(t *testing.T) {
	tests := []struct {
		name   string
		end    func(t *testing.T, gw *gatewaytest.Server, st *gatewaytest.Stream)
		reason string
	}{
		{"browser closes", func(t *testing.T, _ *gatewaytest.Server, st *gatewaytest.Stream) { st.Close() }, wire.ReasonClientClosed},
		{"backend closes", func(t *testing.T, gw *gatewaytest.Server, st *gatewaytest.Stream) {
			sendOK(t, gw, st.Token(), nil, true)
		}, wire.ReasonServerClosed},
		{"backend sends and closes", func(t *testing.T, gw *gatewaytest.Server, st *gatewaytest.Stream) {
			sendOK(t, gw, st.Token(), &wire.Event{Data: "bye"}, true)
		}, wire.ReasonServerClosed},
		{"write fails", func(t *testing.T, gw *gatewaytest.Server, st *gatewaytest.Stream) {
			gw.DropStream(st.Token())
			if got := send(t, gw, sendBody(t, st.Token(), &wire.Event{Data: "x"}, false)); got.Status != 500 {
				t.Errorf("send to a dropped stream: status %d, want 500", got.Status)
			}
		}, wire.ReasonError},
	}
	for _, tt := range tests {
		for _, gen := range []int{1, 2} {
			t.Run(fmt.Sprintf("gen%d/%s", gen, tt.name), func(t *testing.T) {
				b := newBackend(t, nil)
				gw := newGateway(t, b.callbackURL(), gatewaytest.WithGeneration(gen))
				st := openStream(t, gw, gen, "/api/sse/tasks?task_id=42")
				c := next(t, b.connects, "connect")
				tt.end(t, gw, st)
				d := next(t, b.disconnects, "disconnect")
				want := wire.Callback{Action: wire.ActionDisconnect, Token: st.Token(), Reason: tt.reason, Request: c.cb.Request}
				if diff := cmp.Diff(want, d.cb); diff != "" {
					t.Errorf("disconnect callback (-want +got):\n%s", diff)
				}
				if got := d.header.Get("Content-Type"); got != "application/json" {
					t.Errorf("disconnect Content-Type = %q", got)
				}
				// Sent once.
				noDisconnects(t, gw, b)
			})
		}
	}
}

// TestDropStreamHeartbeat checks that a heartbeat write fails too.
func TestDropStreamHeartbeat(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL(), gatewaytest.WithHeartbeat(10*time.Millisecond))
	st := openStream(t, gw, 2, "/x")
	gw.DropStream(st.Token())
	if d := next(t, b.disconnects, "disconnect"); d.cb.Reason != wire.ReasonError {
		t.Errorf("disconnect reason %q, want error", d.cb.Reason)
	}
	if evs := readAll(t, st); len(evs) != 0 {
		t.Errorf("unexpected events %+v", evs)
	}
}

// TestDropStreamWhileConnecting checks that DropStream during the connect
// callback makes the opening write fail.
func TestDropStreamWhileConnecting(t *testing.T) {
	var gw *gatewaytest.Server
	b := newBackend(t, func(w http.ResponseWriter, _ *http.Request, cb wire.Callback) {
		gw.DropStream(cb.Token)
		_, _ = io.WriteString(w, "{}")
	})
	gw = newGateway(t, b.callbackURL())
	st := connect(t, gw, "/x", nil)
	if d := next(t, b.disconnects, "disconnect"); d.cb.Reason != wire.ReasonError || d.cb.Token != st.Token() {
		t.Errorf("disconnect %+v, want reason error", d.cb)
	}
	if evs := readAll(t, st); len(evs) != 0 {
		t.Errorf("unexpected events %+v", evs)
	}
}

// The heartbeat interval defaults to the reference gateway's 15 s. (Waiting
// for one would take 15 s; WithHeartbeat's behaviour is TestHeartbeat.)
func TestDefaultHeartbeat(t *testing.T) {
	if gatewaytest.DefaultHeartbeat != 15*time.Second {
		t.Errorf("DefaultHeartbeat = %v, want 15s", gatewaytest.DefaultHeartbeat)
	}
}

// The body limit of POST /internal/send defaults to the reference
// gateway's, which the rest of the module knows as wire.MaxBodyBytes.
func TestDefaultMaxBodyBytes(t *testing.T) {
	if gatewaytest.DefaultMaxBodyBytes != wire.MaxBodyBytes {
		t.Errorf("DefaultMaxBodyBytes = %d, want %d", gatewaytest.DefaultMaxBodyBytes, wire.MaxBodyBytes)
	}
}
