package sseconn

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/internal/wire"
)

// reference encodes like encodeSend must: encoding/json without HTML
// escaping.
func reference(t *testing.T, token string, ev *Event, close bool) []byte {
	t.Helper()
	req := wire.SendRequest{Token: token, Close: close}
	if ev != nil {
		req.Event = &wire.Event{Name: ev.Name, Data: ev.Data}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(req); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestEncodeSend(t *testing.T) {
	tests := []struct {
		name  string
		token string
		ev    *Event
		close bool
	}{
		{"no-op", "0b6f", nil, false},
		{"close", "t", nil, true},
		{"named", "t", &Event{Name: "task_event", Data: `{"progress":0.5,"text":"a \"b\""}`}, false},
		{"unnamed with lines", "t", &Event{Data: "l1\nl2\r\n\tl3"}, true},
		{"controls", "t", &Event{Data: "\x00\x01\x08\x0c\x1f\x7f"}, false},
		{"html and unicode", "t", &Event{Name: "é", Data: "<a&b> ünï 😀 \u2028\u2029"}, false},
		{"invalid UTF-8", "t\xff", &Event{Data: "a\xc3(b\xed\xa0\x80"}, false},
		{"empty data", "", &Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeSend(tokenRefOf(tt.token), tt.ev, tt.close)
			if want := reference(t, tt.token, tt.ev, tt.close); !bytes.Equal(got, want) {
				t.Errorf("encodeSend = %s\nwant        %s", got, want)
			}
		})
	}
}

func FuzzEncodeSend(f *testing.F) {
	f.Add("tok", "task_event", `{"a":1}`, true, false)
	f.Add("", "", "line\nline", false, true)
	f.Add("\xff", "\u2028", "<&>\x00\"\\", true, true)
	f.Add("0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f70", "n", "abcdefgh\"ijklmnopqrstu\u00e9vwxyz0123456789", true, false)
	f.Add("0B6FB3A2-5C1E-4E6F-9A1B-2F3C4D5E6F70", "", "", false, true)
	f.Fuzz(func(t *testing.T, token, name, data string, withEvent, close bool) {
		var ev *Event
		if withEvent {
			ev = &Event{Name: name, Data: data}
		}
		tok := tokenRefOf(token)
		got := encodeSend(tok, ev, close)
		if want := reference(t, token, ev, close); !bytes.Equal(got, want) {
			t.Fatalf("encodeSend = %q\nwant        %q", got, want)
		}
		if ev != nil {
			if part := encodeSendEncoded(tok, encodeEvent(ev, close)); !bytes.Equal(part, got) {
				t.Fatalf("encodeSendEncoded(encodeEvent) = %q\nwant                           %q", part, got)
			}
		}
	})
}

func BenchmarkEncodeSend(b *testing.B) {
	ev := &Event{Name: "task_event", Data: `{"event_type":"progress_update","data":{"text":"step 3 of 7","value":0.42}}` + strings.Repeat(" ", 10)}
	b.ReportAllocs()
	for b.Loop() {
		_ = encodeSend(tokenRefOf("0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f70"), ev, false)
	}
}
