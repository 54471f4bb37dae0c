package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// parseAll parses every event of in.
func parseAll(r io.Reader) ([]Event, error) {
	p := NewParser(r, DefaultMaxLine)
	var evs []Event
	for {
		ev, err := p.Next()
		if err == io.EOF {
			return evs, nil
		}
		if err != nil {
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestParser(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{"unnamed", "data: x\n\n", []Event{{Data: "x"}}},
		{"named", "event: a\ndata: {}\n\n", []Event{{Name: "a", Data: "{}"}}},
		{"multi-line data", "data: a\ndata: b\ndata:\n\n", []Event{{Data: "a\nb\n"}}},
		{"CRLF", "event: a\r\ndata: x\r\n\r\n", []Event{{Name: "a", Data: "x"}}},
		{"CR", "event: a\rdata: x\rdata: y\r\r", []Event{{Name: "a", Data: "x\ny"}}},
		{"mixed endings", "data: 1\r\ndata: 2\rdata: 3\n\r\n", []Event{{Data: "1\n2\n3"}}},
		{"no space after colon", "event:a\ndata:x\n\n", []Event{{Name: "a", Data: "x"}}},
		{"only one space removed", "data:  x \n\n", []Event{{Data: " x "}}},
		{"field without colon", "data\n\n", []Event{{Data: ""}}},
		{"ready", "event: ready\ndata:\n\n", []Event{{Name: "ready"}}},
		{"comments skipped", ": heartbeat\n\n:x\ndata: y\n: z\n\n", []Event{{Data: "y"}}},
		{"name without data is dropped", "event: a\n\ndata: x\n\n", []Event{{Data: "x"}}},
		{"name is reset after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n", []Event{{Name: "a", Data: "1"}, {Data: "2"}}},
		{"id and retry ignored", "id: 7\nretry: 100\ndata: x\n\n", []Event{{Data: "x"}}},
		{"unknown fields ignored", "foo: bar\ndata: x\n\n", []Event{{Data: "x"}}},
		{"colon in value", "data: a: b\n\n", []Event{{Data: "a: b"}}},
		{"BOM at start", "\uFEFFdata: x\n\n", []Event{{Data: "x"}}},
		{"BOM later is data", "data: \uFEFFx\n\n", []Event{{Data: "\uFEFFx"}}},
		{"last event unterminated", "data: x\n\ndata: y\n", []Event{{Data: "x"}}},
		{"last line unterminated", "data: x\n\ndata: y", []Event{{Data: "x"}}},
		{"empty", "", nil},
		{"blank lines only", "\n\n\r\n\r", nil},
		{"last event name wins", "event: a\nevent: b\ndata: x\n\n", []Event{{Name: "b", Data: "x"}}},
		{"data field named exactly", "Data: x\ndata : y\n\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(tt.in)},
				{"one byte at a time", iotest.OneByteReader(strings.NewReader(tt.in))},
			} {
				got, err := parseAll(r.r)
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("%s: events (-want +got):\n%s", r.name, diff)
				}
			}
		})
	}
}

func TestParserReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: x\n\ndata: y\n"), iotest.ErrReader(boom))
	got, err := parseAll(r)
	if !errors.Is(err, boom) {
		t.Errorf("error = %v, want %v", err, boom)
	}
	if diff := cmp.Diff([]Event{{Data: "x"}}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestParserLimit(t *testing.T) {
	const limit = 10
	tests := []struct {
		name    string
		in      string
		wantErr error
	}{
		{"line at the limit", "data:12345\n\n", nil},
		{"line above the limit", "data:123456\n\n", ErrTooLong},
		{"unterminated line above the limit", "data:123456", ErrTooLong},
		{"data at the limit", "data:1234\ndata:1234\n\n", nil},
		{"data above the limit", "data:1234\ndata:1234\ndata:\n\n", ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser(strings.NewReader(tt.in), limit)
			var err error
			for err == nil {
				_, err = p.Next()
			}
			if tt.wantErr == nil {
				tt.wantErr = io.EOF
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// referenceParse is a second, independent reading of the event stream
// interpretation algorithm: split the whole input into lines first, then
// interpret them.
func referenceParse(in string) []Event {
	in = strings.TrimPrefix(in, "\uFEFF")
	var lines []string
	start := 0
	for i := 0; i < len(in); i++ {
		switch in[i] {
		case '\n':
			lines = append(lines, in[start:i])
			start = i + 1
		case '\r':
			lines = append(lines, in[start:i])
			if i+1 < len(in) && in[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	var (
		evs  []Event
		name string
		data []string
	)
	for _, line := range lines {
		switch {
		case line == "":
			if data != nil {
				evs = append(evs, Event{Name: name, Data: strings.Join(data, "\n")})
			}
			name, data = "", nil
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				name = value
			case "data":
				data = append(data, value)
			}
		}
	}
	return evs
}

func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"data: x\n\n",
		"event: a\r\ndata: {}\r\n\r\n",
		"event: ready\ndata:\n\n: heartbeat\n\n",
		"data: a\rdata: b\r\r",
		"\uFEFFdata\n\n",
		"event: a\n\ndata: y\n",
		"\r\n\r\r\n:\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := referenceParse(string(in))
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in)), iotest.HalfReader(bytes.NewReader(in))} {
			got, err := parseAll(r)
			if err != nil {
				t.Fatalf("parse %q: %v", in, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("parse %q (-reference +parser):\n%s", in, diff)
			}
		}
	})
}

func BenchmarkParser(b *testing.B) {
	var in []byte
	for range 100 {
		in = append(in, `data: {"type":"task_event","payload":{"event_type":"progress_update","task_id":"42","data":{"text":"working","value":0.5}}}`+"\n\n"...)
		in = append(in, ": heartbeat\n\n"...)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAll(bytes.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}
