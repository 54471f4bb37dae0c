package realgw

import (
	"strings"
	"testing"
)

// TestLogBufferCaps writes far more than the caps: the log keeps its
// beginning and its latest part, says how much it left out, and its size
// stays bounded.
func TestLogBufferCaps(t *testing.T) {
	var b logBuffer
	b.WriteString("first line\n")
	line := strings.Repeat("x", 99) + "\n"
	const lines = 50_000 // 5 MB
	for range lines {
		b.WriteString(line)
	}
	b.WriteString("last line\n")
	got := b.String()
	if !strings.HasPrefix(got, "first line\n") || !strings.HasSuffix(got, line+"last line\n") {
		t.Errorf("log lost its beginning or its end: %q ... %q", got[:20], got[len(got)-20:])
	}
	if !strings.Contains(got, " bytes of log left out ---\n") {
		t.Error("log does not say that it left bytes out")
	}
	if max := logHeadBytes + 2*logTailBytes + 100; len(got) > max {
		t.Errorf("log holds %d bytes, want at most %d", len(got), max)
	}
	written := len("first line\n") + lines*len(line) + len("last line\n")
	if kept := b.head.Len() + len(b.tail); kept+int(b.skipped) != written {
		t.Errorf("kept %d + left out %d bytes, want %d written", kept, b.skipped, written)
	}

	var small logBuffer
	small.WriteString("a\n")
	small.WriteString("b\n")
	if got := small.String(); got != "a\nb\n" {
		t.Errorf("small log = %q, want it whole", got)
	}
}
