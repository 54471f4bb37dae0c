package sseconn

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// frameGen1 frames ev as the generation-1 reference gateway does
// (formatSseEvent in its sse.ts): "event: <name>" when named, then one
// "data: " line per LF-separated line of the data, then a blank line.
func frameGen1(name, data string) string {
	var b strings.Builder
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// frameGen2 frames ev as the generation-2 reference gateway does: a named
// event becomes the envelope {"type":JSON.stringify(name),"payload":data}
// on one data line; an unnamed event is framed as in generation 1.
func frameGen2(name, data string) string {
	if name == "" {
		return frameGen1(name, data)
	}
	quoted, _ := json.Marshal(name) // JSON.stringify up to HTML escapes, which JSON.parse undoes alike
	return "data: " + `{"type":` + string(quoted) + `,"payload":` + data + "}\n\n"
}

// parsedEvent is an event as a browser's EventSource dispatches it.
type parsedEvent struct{ Name, Data string }

// parseEventStream interprets s the way the WHATWG HTML "event stream
// interpretation" does: lines end at CRLF, LF or CR; "field: value" with
// one leading space of the value removed; a blank line dispatches when data
// was seen. It is an oracle independent of gatewaytest's parser.
func parseEventStream(s string) []parsedEvent {
	var out []parsedEvent
	var name string
	var data []string
	seen := false
	for len(s) > 0 {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 {
			break // an unterminated line is never dispatched
		}
		line := s[:i]
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
		if line == "" {
			if seen {
				out = append(out, parsedEvent{Name: name, Data: strings.Join(data, "\n")})
			}
			name, data, seen = "", nil, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			data = append(data, value)
			seen = true
		}
	}
	return out
}

// delivered reports what a page gets for ev from gateway generation gen,
// and whether it is ev intact.
func delivered(t *testing.T, gen int, ev Event) (string, bool) {
	t.Helper()
	frame := frameGen1(ev.Name, ev.Data)
	if gen == 2 {
		frame = frameGen2(ev.Name, ev.Data)
	}
	got := parseEventStream(frame)
	if len(got) != 1 {
		return frame, false
	}
	if gen == 1 || ev.Name == "" {
		return frame, got[0] == parsedEvent(ev)
	}
	if got[0].Name != "" {
		return frame, false
	}
	var env struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal([]byte(got[0].Data), &env); err != nil {
		return frame, false
	}
	var want, have bytes.Buffer
	if json.Compact(&want, []byte(ev.Data)) != nil || json.Compact(&have, env.Payload) != nil {
		return frame, false
	}
	return frame, env.Type == ev.Name && want.String() == have.String()
}

// TestFault1ValidateRejectsMangledEvents holds Validate to what both gateway
// generations deliver intact (issue 12, fault 1).
func TestFault1ValidateRejectsMangledEvents(t *testing.T) {
	tests := []struct {
		name string
		ev   Event
		ok   bool
	}{
		{"plain named", Event{Name: "task_event", Data: `{"a":"b\r\n\u2028"}`}, true},
		{"unnamed lines", Event{Data: "l1\nl2\n\n"}, true},
		{"unnamed controls", Event{Data: "\x00\x01\t\x7f\u0085\u2028"}, true},
		{"empty unnamed", Event{}, true},
		{"unicode name", Event{Name: "é ✓ 😀", Data: "1"}, true},
		{"name with spaces", Event{Name: " a b ", Data: "null"}, true},
		{"name with quote", Event{Name: `a"b`, Data: "{}"}, false},
		{"name with backslash", Event{Name: `a\b`, Data: "{}"}, false},
		{"name with tab", Event{Name: "a\tb", Data: "{}"}, false},
		{"name with NUL", Event{Name: "a\x00", Data: "{}"}, false},
		{"name with DEL", Event{Name: "a\x7f", Data: "{}"}, false},
		{"name with NEL", Event{Name: "a\u0085", Data: "{}"}, false},
		{"name with U+2028", Event{Name: "a\u2028", Data: "{}"}, false},
		{"name with LF", Event{Name: "a\nb", Data: "{}"}, false},
		{"name with CR", Event{Name: "a\rb", Data: "{}"}, false},
		{"name not UTF-8", Event{Name: "a\xff", Data: "{}"}, false},
		{"reserved ready", Event{Name: "ready", Data: "{}"}, false},
		{"reserved rejected", Event{Name: "rejected", Data: "{}"}, false},
		{"unnamed lone CR", Event{Data: "a\rb"}, false},
		{"unnamed CRLF", Event{Data: "a\r\nb"}, false},
		{"named CR whitespace", Event{Name: "n", Data: "{\r}"}, false},
		{"named LF whitespace", Event{Name: "n", Data: "{\n\"a\": 1\n}"}, false},
		{"named not JSON", Event{Name: "n", Data: "x"}, false},
		{"named empty", Event{Name: "n"}, false},
		{"data not UTF-8", Event{Data: "a\xc3("}, false},
	}
	var got, want []string
	for _, tt := range tests {
		err := tt.ev.Validate()
		if err != nil && !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: error %v does not wrap ErrInvalidEvent", tt.name, err)
		}
		if (err == nil) != tt.ok {
			got = append(got, tt.name)
		}
		if tt.ok {
			for _, gen := range []int{1, 2} {
				if frame, ok := delivered(t, gen, tt.ev); !ok {
					t.Errorf("%s: accepted event not intact from generation %d: %q", tt.name, gen, frame)
				}
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events judged wrongly (-want +got):\n%s", diff)
	}
}

// FuzzValidateFraming checks that every event Validate accepts is framed by
// both gateway generations and parsed back by EventSource intact.
func FuzzValidateFraming(f *testing.F) {
	f.Add("task_event", `{"progress":0.5}`)
	f.Add("", "line1\nline2")
	f.Add("", "a\rb")
	f.Add("a\"b", "{}")
	f.Add("n", "{\n}")
	f.Add("", "")
	f.Add("x", `"\u2028"`)
	f.Fuzz(func(t *testing.T, name, data string) {
		ev := Event{Name: name, Data: data}
		if ev.Validate() != nil {
			return
		}
		for _, gen := range []int{1, 2} {
			if frame, ok := delivered(t, gen, ev); !ok {
				t.Fatalf("Validate accepted %+v, which generation %d mangles: %q", ev, gen, frame)
			}
		}
	})
}
