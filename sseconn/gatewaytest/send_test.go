package gatewaytest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TestSendAnswers checks each row of PROTOCOL.md section 3's answer table
// that a single request can show, against an open stream.
func TestSendAnswers(t *testing.T) {
	const tok = "TOKEN" // replaced by the live token
	html400 := answer{400, htmlCT, ""}
	bad := func(code string) answer { return answer{400, jsonCT, code} }
	tests := []struct {
		name        string
		contentType string // default application/json
		body        string
		want        answer // Body "" for HTML: not compared; a bare code: compared by code
		event       *gatewaytest.Event
	}{
		{name: "named event", body: `{"token":"TOKEN","event":{"name":"n","data":"{}"}}`, want: answer{200, jsonCT, okBody}, event: &gatewaytest.Event{Name: "n", Data: "{}"}},
		{name: "unnamed event", body: `{"token":"TOKEN","event":{"data":"x"}}`, want: answer{200, jsonCT, okBody}, event: &gatewaytest.Event{Data: "x"}},
		{name: "close false", body: `{"token":"TOKEN","event":{"data":"x"},"close":false}`, want: answer{200, jsonCT, okBody}, event: &gatewaytest.Event{Data: "x"}},
		{name: "null name", body: `{"token":"TOKEN","event":{"name":null,"data":"x"}}`, want: answer{200, jsonCT, okBody}, event: &gatewaytest.Event{Data: "x"}},
		{name: "unknown fields", body: `{"token":"TOKEN","event":{"data":"x","id":1},"later":true}`, want: answer{200, jsonCT, okBody}, event: &gatewaytest.Event{Data: "x"}},
		{name: "no-op probe", body: `{"token":"TOKEN"}`, want: answer{200, jsonCT, okBody}},
		{name: "null event is no event", body: `{"token":"TOKEN","event":null}`, want: answer{200, jsonCT, okBody}},
		{name: "charset in content type", contentType: "application/json; charset=utf-8", body: `{"token":"TOKEN"}`, want: answer{200, jsonCT, okBody}},
		{name: "token missing", body: `{"event":{"data":"x"}}`, want: bad("INVALID_TOKEN_MISSING")},
		{name: "token empty", body: `{"token":""}`, want: bad("INVALID_TOKEN_MISSING")},
		{name: "token a number", body: `{"token":42}`, want: bad("INVALID_TOKEN_MISSING")},
		{name: "empty body", body: ``, want: bad("INVALID_TOKEN_MISSING")},
		{name: "array body", body: `[{"token":"TOKEN"}]`, want: bad("INVALID_TOKEN_MISSING")},
		{name: "not a JSON content type", contentType: "text/plain", body: `{"token":"TOKEN"}`, want: bad("INVALID_TOKEN_MISSING")},
		{name: "event a string", body: `{"token":"TOKEN","event":"hello"}`, want: bad("INVALID_EVENT_TYPE")},
		{name: "event an array", body: `{"token":"TOKEN","event":[{"data":"x"}]}`, want: bad("INVALID_EVENT_TYPE")},
		{name: "data missing", body: `{"token":"TOKEN","event":{"name":"n"}}`, want: bad("INVALID_EVENT_DATA_MISSING")},
		{name: "data an object", body: `{"token":"TOKEN","event":{"name":"n","data":{"a":1}}}`, want: bad("INVALID_EVENT_DATA_MISSING")},
		{name: "data null", body: `{"token":"TOKEN","event":{"data":null}}`, want: bad("INVALID_EVENT_DATA_MISSING")},
		{name: "name a number", body: `{"token":"TOKEN","event":{"name":1,"data":"x"}}`, want: bad("INVALID_EVENT_NAME_TYPE")},
		{name: "close a string", body: `{"token":"TOKEN","close":"true"}`, want: bad("INVALID_CLOSE_TYPE")},
		{name: "close a number", body: `{"token":"TOKEN","close":1}`, want: bad("INVALID_CLOSE_TYPE")},
		{name: "not JSON", body: `token=TOKEN`, want: html400},
		{name: "truncated JSON", body: `{"token":"TOKEN"`, want: html400},
		{name: "JSON string at top level", body: `"TOKEN"`, want: html400},
		{name: "unknown token", body: `{"token":"00000000-0000-4000-8000-000000000000","event":{"data":"x"}}`, want: answer{404, jsonCT, errorBody("TOKEN_NOT_FOUND", "Token not found")}},
	}
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.contentType
			if ct == "" {
				ct = "application/json"
			}
			got := post(t, gw.URL+"/internal/send", ct, strings.ReplaceAll(tt.body, tok, st.Token()))
			want := tt.want
			switch {
			case want.ContentType == htmlCT:
				if !strings.Contains(got.Body, "<html") {
					t.Errorf("body %q is not HTML", got.Body)
				}
				got.Body = ""
			case want.Status == 400:
				var eb wire.ErrorBody
				if err := jsonUnmarshal(got.Body, &eb); err != nil || eb.Error.Message == "" {
					t.Errorf("body %q is not a JSON error with a message", got.Body)
				}
				got.Body = eb.Error.Code
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("answer (-want +got):\n%s", diff)
			}
			if tt.event != nil {
				if diff := cmp.Diff(*tt.event, nextEvent(t, st).Unwrap()); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
			}
		})
	}
	// Nothing but the expected events reached the stream.
	sendOK(t, gw, st.Token(), nil, true)
	if evs := readAll(t, st); len(evs) != 0 {
		t.Errorf("unexpected events %+v", evs)
	}
}

// TestSendBodyLimit checks 413 with an HTML body above the limit, and that
// a body of exactly the limit is accepted.
func TestSendBodyLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit int // 0: default
	}{
		{"default 100 KiB", 0},
		{"WithMaxBodyBytes", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = 102400
			}
			b := newBackend(t, nil)
			gw := newGateway(t, b.callbackURL(), gatewaytest.WithMaxBodyBytes(tt.limit))
			st := openStream(t, gw, 2, "/x")
			body := func(size int) (string, string) {
				prefix := `{"token":"` + st.Token() + `","event":{"data":"`
				suffix := `"}}`
				data := strings.Repeat("x", size-len(prefix)-len(suffix))
				return prefix + data + suffix, data
			}

			tooBig, _ := body(limit + 1)
			got := send(t, gw, tooBig)
			if got.Status != 413 || got.ContentType != htmlCT || !strings.Contains(got.Body, "<html") {
				t.Errorf("%d bytes: answer %d %q %q, want 413 with an HTML body", len(tooBig), got.Status, got.ContentType, got.Body)
			}
			exact, data := body(limit)
			got = send(t, gw, exact)
			if diff := cmp.Diff(answer{200, jsonCT, okBody}, got); diff != "" {
				t.Errorf("%d bytes: answer (-want +got):\n%s", len(exact), diff)
			}
			if ev := nextEvent(t, st); ev.Data != data {
				t.Errorf("event data has %d bytes, want %d", len(ev.Data), len(data))
			}
			if n := len(gw.Sends()); n != 1 {
				t.Errorf("Sends() has %d entries, want 1 (the 413 is not handled)", n)
			}
		})
	}
}

// TestSendBuffered checks that sends made while the connect callback runs
// are buffered and written, in order, before ready and before live events;
// a buffered close ends the stream right after them.
func TestSendBuffered(t *testing.T) {
	tests := []struct {
		name      string
		gen       int
		close     bool
		want      []gatewaytest.Event
		wantReply string
	}{
		{"gen1", 1, false, []gatewaytest.Event{{Name: "snapshot", Data: `{"n":1}`}, {Data: "two"}, {Data: "live"}}, ""},
		{"gen2", 2, false, []gatewaytest.Event{{Data: `{"type":"snapshot","payload":{"n":1}}`}, {Data: "two"}, {Name: "ready"}, {Data: "live"}}, ""},
		{"gen2 buffered close", 2, true, []gatewaytest.Event{{Data: `{"type":"snapshot","payload":{"n":1}}`}, {Data: "two"}}, wire.ReasonServerClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gw *gatewaytest.Server
			replies := make(chan answer, 3)
			b := newBackend(t, func(w http.ResponseWriter, r *http.Request, cb wire.Callback) {
				// A backend's connect handler sends a snapshot.
				reqs := []wire.SendRequest{
					{Token: cb.Token, Event: &wire.Event{Name: "snapshot", Data: `{"n":1}`}},
					{Token: cb.Token, Event: &wire.Event{Data: "two"}},
				}
				if tt.close {
					reqs = append(reqs, wire.SendRequest{Token: cb.Token, Close: true})
				}
				for _, req := range reqs {
					a, err := trySend(r.Context(), gw, req)
					if err != nil {
						a.Body = err.Error()
					}
					replies <- a
				}
				_, _ = io.WriteString(w, "{}")
			})
			gw = newGateway(t, b.callbackURL(), gatewaytest.WithGeneration(tt.gen))
			st := connect(t, gw, "/x", nil)
			n := 2
			if tt.close {
				n = 3
			}
			for range n {
				if diff := cmp.Diff(answer{200, jsonCT, bufferedOK}, <-replies); diff != "" {
					t.Errorf("send during the callback (-want +got):\n%s", diff)
				}
			}
			var got []gatewaytest.Event
			if tt.close {
				d := next(t, b.disconnects, "disconnect")
				if d.cb.Reason != tt.wantReply {
					t.Errorf("disconnect reason %q, want %q", d.cb.Reason, tt.wantReply)
				}
				got = readAll(t, st) // the gateway ends the stream
			} else {
				sendOK(t, gw, st.Token(), &wire.Event{Data: "live"}, false)
				// Read what was sent before closing: Close may beat the
				// last event off the socket.
				for range tt.want {
					got = append(got, nextEvent(t, st))
				}
				st.Close()
				got = append(got, readAll(t, st)...)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSendWriteFailed checks 500 WRITE_FAILED: the connection is dropped and
// the disconnect callback says "error".
func TestSendWriteFailed(t *testing.T) {
	for _, gen := range []int{1, 2} {
		t.Run(fmt.Sprintf("gen%d", gen), func(t *testing.T) {
			b := newBackend(t, nil)
			gw := newGateway(t, b.callbackURL(), gatewaytest.WithGeneration(gen))
			st := openStream(t, gw, gen, "/x")
			sendOK(t, gw, st.Token(), &wire.Event{Data: "before"}, false)
			gw.DropStream(st.Token())
			got := send(t, gw, sendBody(t, st.Token(), &wire.Event{Data: "lost"}, false))
			if diff := cmp.Diff(answer{500, jsonCT, errorBody("WRITE_FAILED", "Failed to write to stream")}, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			d := next(t, b.disconnects, "disconnect")
			if d.cb.Token != st.Token() || d.cb.Reason != wire.ReasonError {
				t.Errorf("disconnect %+v, want reason error for %s", d.cb, st.Token())
			}
			if diff := cmp.Diff([]gatewaytest.Event{{Data: "before"}}, readAll(t, st)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := send(t, gw, sendBody(t, st.Token(), nil, false)); got.Status != 404 {
				t.Errorf("send after WRITE_FAILED: status %d, want 404", got.Status)
			}
		})
	}
}

// TestSendOrder checks that sequential sends to one stream are written and
// logged in order.
func TestSendOrder(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL())
	st := openStream(t, gw, 2, "/x")
	var want []gatewaytest.Event
	for i := range 50 {
		ev := wire.Event{Name: "n", Data: fmt.Sprint(i)}
		sendOK(t, gw, st.Token(), &ev, false)
		want = append(want, gatewaytest.Event{Name: "n", Data: fmt.Sprint(i)})
	}
	sendOK(t, gw, st.Token(), nil, true)
	var got []gatewaytest.Event
	for _, ev := range readAll(t, st) {
		got = append(got, ev.Unwrap())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := len(gw.Sends()); n != 51 {
		t.Errorf("Sends() has %d entries, want 51", n)
	}
}
