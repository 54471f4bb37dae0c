package routecheck

import (
	"strings"
	"testing"

	"github.com/ssegate/ssegate/callback"
)

func TestCheck(t *testing.T) {
	m := callback.Query("task", "/api/sse/tasks", "task_id")
	for _, tc := range []struct {
		name, raw, want, err string
	}{
		{"matches", "/api/sse/tasks?task_id=42", "task:42", ""},
		{"other identifier", "/api/sse/tasks?task_id=42", "task:43", `maps stream URL "/api/sse/tasks?task_id=42" to "task:42", want "task:43"`},
		{"no match", "/elsewhere?task_id=42", "task:42", "does not match"},
		{"refused", "/api/sse/tasks?task_id=a:b", "task:a:b", "matcher refuses"},
		{"unparsable", "%zz", "task:42", "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.raw, m, tc.want)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Check = %v, want nil", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Check = %v, want an error containing %q", err, tc.err)
			}
		})
	}
}
