package task_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/task"
)

// TestFault2LargeErrorKeepsTaskFailed checks that a task failing with an
// error text of any size, or with a result the gateway refuses, still ends
// its stream with exactly one terminal event (issue 12, fault 2).
func TestFault2LargeErrorKeepsTaskFailed(t *testing.T) {
	tests := []struct {
		name      string
		opts      []task.Option
		fn        task.Func
		wantType  string
		wantError func(string) bool
	}{
		{"110 KiB error", nil, func(context.Context, *task.Progress) (any, error) {
			return nil, errors.New(strings.Repeat("e", 110<<10))
		}, "task_failed", func(s string) bool {
			return strings.HasPrefix(s, "eeee") && strings.HasSuffix(s, "…") && len(s) <= task.MaxErrorBytes
		}},
		{"20 KiB of control characters", nil, func(context.Context, *task.Progress) (any, error) {
			return nil, errors.New(strings.Repeat("\x01", 20<<10))
		}, "task_failed", func(s string) bool {
			return strings.HasPrefix(s, "\x01\x01") && strings.HasSuffix(s, "…")
		}},
		{"multi-byte text cut on a rune boundary", nil, func(context.Context, *task.Progress) (any, error) {
			return nil, errors.New(strings.Repeat("é<\u2028", 10<<10))
		}, "task_failed", func(s string) bool { return utf8.ValidString(s) && strings.HasSuffix(s, "…") }},
		{"result the gateway refuses", []task.Option{task.WithMaxResultBytes(1 << 20)}, func(context.Context, *task.Progress) (any, error) {
			return strings.Repeat("r", 200<<10), nil
		}, "task_failed", func(s string) bool { return s == "task result too large" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 2, tt.opts...)
			info := start(t, e.runner, tt.fn)
			wait(t, e.runner, info.ID)
			got := e.open(t, info.StreamURL).all()
			if len(got) != 3 {
				t.Fatalf("stream has %d events, want started, terminal, close: %.200q", len(got), got)
			}
			typ, data, _ := strings.Cut(got[1], " ")
			var body struct{ Error string }
			if err := json.Unmarshal([]byte(data), &body); err != nil {
				t.Fatalf("terminal data %.200q: %v", data, err)
			}
			gotSummary := []string{got[0], typ, got[2]}
			wantSummary := []string{evStarted, tt.wantType, `connection_close {"reason":"` + tt.wantType + `"}`}
			if diff := cmp.Diff(wantSummary, gotSummary); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if !tt.wantError(body.Error) {
				t.Errorf("error text (%d bytes) %.100q… not as wanted", len(body.Error), body.Error)
			}
		})
	}
}
