package task

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestNewEvent(t *testing.T) {
	ts := time.Date(2026, 1, 2, 15, 4, 5, 999_999_999, time.FixedZone("CET", 3600))
	tests := []struct {
		name, typ, id string
		data          []byte
		want          string
	}{
		{
			"started", TypeStarted, "42", emptyObject,
			`{"event_type":"task_started","task_id":"42","timestamp":"2026-01-02T14:04:05.999Z","data":{}}`,
		},
		{
			"progress", TypeProgress, "42", progressData(Update{Text: "a\nb", Value: 0.125}),
			`{"event_type":"progress_update","task_id":"42","timestamp":"2026-01-02T14:04:05.999Z","data":{"text":"a\nb","value":0.125}}`,
		},
		{
			"failed", TypeFailed, `q"uote`, failureData(`bad "input"`, ""),
			`{"event_type":"task_failed","task_id":"q\"uote","timestamp":"2026-01-02T14:04:05.999Z","data":{"error":"bad \"input\""}}`,
		},
		{
			"failed with code", TypeFailed, "42", failureData("task not found", CodeNotFound),
			`{"event_type":"task_failed","task_id":"42","timestamp":"2026-01-02T14:04:05.999Z","data":{"error":"task not found","code":"TASK_NOT_FOUND"}}`,
		},
		{
			"close", TypeClose, "42", reasonData(ReasonNotFound),
			`{"event_type":"connection_close","task_id":"42","timestamp":"2026-01-02T14:04:05.999Z","data":{"reason":"task_not_found"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newEvent(tt.typ, tt.id, ts, tt.data)
			if ev.Name != EventName {
				t.Errorf("name = %q", ev.Name)
			}
			if diff := cmp.Diff(tt.want, ev.Data); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailureData checks that failureData encodes a Failure exactly as
// encoding/json does, so that clients can decode it with the type.
func TestFailureData(t *testing.T) {
	tests := []Failure{
		{Error: "disk full"},
		{Error: "task not found", Code: CodeNotFound},
		{Error: "task cancelled", Code: CodeCancelled},
		{Error: "<\"quoted\">\n", Code: "X&Y"},
	}
	for _, f := range tests {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(failureData(f.Error, f.Code))); diff != "" {
			t.Errorf("failureData(%q, %q) (-want +got):\n%s", f.Error, f.Code, diff)
		}
	}
}

func TestProgressDataValues(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, `{"text":"","value":0}`},
		{1, `{"text":"","value":1}`},
		{0.1, `{"text":"","value":0.1}`},
		{1e-9, `{"text":"","value":0.000000001}`},
		{1.0 / 3, `{"text":"","value":0.3333333333333333}`},
	}
	for _, tt := range tests {
		if got := string(progressData(Update{Value: tt.v})); got != tt.want {
			t.Errorf("progressData(%v) = %s, want %s", tt.v, got, tt.want)
		}
	}
}

// FuzzProgressData checks that any progress report encodes as valid JSON
// that decodes to the report (invalid UTF-8 replaced, as encoding/json
// does).
func FuzzProgressData(f *testing.F) {
	f.Add("copying", 0.5)
	f.Add("a\"b\\c\n\x00<>&\u2028", 1.0)
	f.Add("\xff\xfe", 0.0)
	f.Fuzz(func(t *testing.T, text string, v float64) {
		v = clamp(v, 0)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Skip()
		}
		data := progressData(Update{Text: text, Value: v})
		var got Update
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("progressData(%q, %v) = %s: %v", text, v, data, err)
		}
		want := Update{Text: strings.ToValidUTF8(text, "\uFFFD"), Value: v}
		if !utf8.ValidString(text) {
			// encoding/json replaces each invalid byte; compare loosely.
			want.Text = got.Text
		}
		if got != want {
			t.Errorf("round trip of %q, %v: got %+v", text, v, got)
		}
		ev := progressEvent("id", time.Unix(0, 0), Update{Text: text, Value: v})
		if want := newEvent(TypeProgress, "id", time.Unix(0, 0), data); ev != want {
			t.Errorf("progressEvent = %q, want %q", ev.Data, want.Data)
		}
		if !json.Valid([]byte(ev.Data)) {
			t.Errorf("event data is not JSON: %s", ev.Data)
		}
	})
}
