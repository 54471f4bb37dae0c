package sseclient

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ssegate/ssegate/internal/sse"
)

// FuzzNext checks that the parser never panics nor loops, and that every
// event it returns has a name without CR or LF and data without CR.
func FuzzNext(f *testing.F) {
	for _, s := range []string{
		"event: a\ndata: {}\n\n",
		"data:x\r\n\r\n: c\n\n",
		"data\n\nevent\ndata\n\n",
		"data: a\rb\n\n",
		"event: x\r\rdata\r\n\r",
		"data: " + strings.Repeat("y", 5000) + "\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		body := io.NopCloser(strings.NewReader(s))
		st := &Stream{body: body, p: sse.NewParser(body, MaxEventBytes)}
		for range len(s) + 1 { // each event consumes at least one byte
			ev, err := st.Next(context.Background())
			if errors.Is(err, io.EOF) || errors.Is(err, ErrEventTooLarge) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(ev.Name, "\r\n") || strings.Contains(ev.Data, "\r") {
				t.Errorf("event %q from %q", ev, s)
			}
		}
		t.Fatalf("more events than bytes in %q", s)
	})
}
