package gatewaytest

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/sse"
)

// parseAll parses every event of r as a browser would.
func parseAll(r io.Reader) ([]Event, error) {
	p := sse.NewParser(r, sse.DefaultMaxLine)
	var evs []Event
	for {
		ev, err := p.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, Event(ev))
	}
}

// FuzzFrameRoundTrip checks that what the gateway frames, the parser reads
// back, and Unwrap undoes generation 2's envelope.
func FuzzFrameRoundTrip(f *testing.F) {
	f.Add("task_event", `{"progress":0.5}`, true)
	f.Add("", "line1\nline2", false)
	f.Add("multi", "{\n\"a\": 1\n}", false)
	f.Add("ready", "again", true)
	f.Add("", "", true)
	f.Add("ready", "", true)
	f.Fuzz(func(t *testing.T, name, data string, gen2 bool) {
		// The gateway splits data on LF only, and a name is one line: a CR
		// in either, or a name needing JSON escapes, is the sender's bug
		// (sseconn rejects it before sending).
		if strings.ContainsAny(name, "\r\n") || strings.Contains(data, "\r") {
			t.Skip()
		}
		gen := 1
		if gen2 {
			gen = 2
		}
		wrapped := gen == 2 && name != "" && name != eventReady && name != eventRejected
		if wrapped {
			quoted, _ := json.Marshal(name)
			if string(quoted) != `"`+name+`"` || !json.Valid([]byte(data)) || strings.Trim(data, " \t\n") != data {
				t.Skip()
			}
		}
		// Generation 2 writes an envelope and the data of rejected on one
		// line, LFs included: the browser reads up to the first LF
		// (sseconn refuses such events).
		if gen == 2 && name != "" && name != eventReady && strings.Contains(data, "\n") {
			t.Skip()
		}
		want := Event{Name: name, Data: data}
		if gen == 2 && name == eventReady {
			want.Data = "" // the fixed frame
		}
		if name == "" && (Event{Data: data}).Unwrap() != (Event{Data: data}) {
			t.Skip() // an unnamed event that looks like an envelope: ambiguous by design
		}
		framed := appendFrame(nil, gen, Event{Name: name, Data: data})
		got, err := parseAll(bytes.NewReader(framed))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("frame %q parsed as %d events", framed, len(got))
		}
		if wrapped && got[0].Name != "" {
			t.Errorf("generation 2 event %q not wrapped: %q", name, framed)
		}
		if diff := cmp.Diff(want, got[0].Unwrap()); diff != "" {
			t.Errorf("frame %q (-sent +parsed):\n%s", framed, diff)
		}
	})
}

func BenchmarkAppendFrame(b *testing.B) {
	ev := Event{Name: "task_event", Data: `{"event_type":"progress_update","task_id":"42","data":{"text":"working","value":0.5}}`}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendFrame(buf[:0], 2, ev)
	}
}
