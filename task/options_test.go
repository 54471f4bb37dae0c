package task

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
)

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name    string
		conn    Conn
		opts    []Option
		wantErr string
	}{
		{"nil conn", nil, nil, "nil Conn"},
		{"no workers", newFakeConn(), []Option{WithWorkers(0)}, "workers must be at least 1"},
		{"negative queue", newFakeConn(), []Option{WithQueueSize(-1)}, "queue size must not be negative"},
		{"zero retention", newFakeConn(), []Option{WithRetention(0)}, "retention must be positive"},
		{"zero send timeout", newFakeConn(), []Option{WithSendTimeout(0)}, "send timeout must be positive"},
		{"zero max result", newFakeConn(), []Option{WithMaxResultBytes(0)}, "max result bytes must be positive"},
		{"empty kind", newFakeConn(), []Option{WithKind("")}, "kind"},
		{"kind with colon", newFakeConn(), []Option{WithKind("a:b")}, "kind"},
		{"nil stream URL", newFakeConn(), []Option{WithStreamURL(nil, callback.Query("task", "/x", "id"))}, "needs both"},
		{"nil matcher", newFakeConn(), []Option{WithStreamURL(func(id string) string { return "/x?id=" + id }, nil)}, "needs both"},
		{
			"matcher on another path", newFakeConn(),
			[]Option{WithStreamURL(func(id string) string { return "/x?id=" + id }, callback.Query("task", "/y", "id"))},
			"does not match",
		},
		{
			"matcher of another kind", newFakeConn(),
			[]Option{WithStreamURL(func(id string) string { return "/x?id=" + id }, callback.Query("job", "/x", "id"))},
			`want "task:`,
		},
		{
			"matcher refuses", newFakeConn(),
			[]Option{WithStreamURL(func(string) string { return "/x?id=" }, callback.Query("task", "/x", "id"))},
			"refuses",
		},
		{
			"URL does not parse", newFakeConn(),
			[]Option{WithStreamURL(func(string) string { return "%zz" }, callback.Query("task", "/x", "id"))},
			"does not parse",
		},
		{
			"several problems", newFakeConn(),
			[]Option{WithWorkers(-1), WithRetention(-1)},
			"workers must be at least 1, got -1\nretention must be positive",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.conn, tt.opts...)
			if err == nil {
				_ = r.Shutdown(context.Background())
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	r := newTestRunner(t, newFakeConn(), nil, WithLogger(nil), WithMeterProvider(nil),
		WithTracerProvider(nil), WithClock(nil), WithErrorMessage(nil))
	got := struct {
		Workers, Queue, MaxResult int
		Retention, SendTimeout    time.Duration
		Kind                      string
	}{r.cfg.workers, r.cfg.queueSize, r.cfg.maxResultBytes, r.cfg.retention, r.cfg.sendTimeout, r.cfg.kind}
	want := struct {
		Workers, Queue, MaxResult int
		Retention, SendTimeout    time.Duration
		Kind                      string
	}{DefaultWorkers(), DefaultQueueSize, DefaultMaxResultBytes, DefaultRetention, DefaultSendTimeout, DefaultKind}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if r.log == nil || r.cfg.now == nil || r.cfg.errorMessage == nil {
		t.Error("nil options did not fall back to the defaults")
	}
}

// TestRoutes checks that the stream URL and the matcher agree, and that a
// connect through the matcher reaches the task.
func TestRoutes(t *testing.T) {
	tests := []struct {
		name      string
		opts      []Option
		wantURL   string // with ID for the task id
		wantIdent string
	}{
		{"default", nil, "/api/sse/tasks?task_id=ID", "task:ID"},
		{"kind", []Option{WithKind("export")}, "/api/sse/tasks?task_id=ID", "export:ID"},
		{
			"path",
			[]Option{WithStreamURL(func(id string) string { return "/sse/jobs/" + url.PathEscape(id) },
				callback.Path("task", "/sse/jobs/{id}"))},
			"/sse/jobs/ID", "task:ID",
		},
		{
			"kind and prefix",
			[]Option{WithKind("job"), WithStreamURL(func(id string) string { return "/jobs/" + id },
				callback.Prefix("job", "/jobs/"))},
			"/jobs/ID", "job:ID",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := newFakeConn()
			r := newTestRunner(t, conn, tt.opts...)
			info := startTask(t, r, func(context.Context, *Progress) (any, error) { return 1, nil })
			waitDone(t, r, info.ID)
			if want := strings.ReplaceAll(tt.wantURL, "ID", info.ID); info.StreamURL != want {
				t.Errorf("StreamURL = %q, want %q", info.StreamURL, want)
			}
			req := connectReq(t, r, info.StreamURL, "tok")
			if want := strings.ReplaceAll(tt.wantIdent, "ID", info.ID); req.Identifier != want {
				t.Errorf("identifier = %q, want %q", req.Identifier, want)
			}
			connect(t, r, info.StreamURL, "tok")
			want := []string{started, `task_completed 1`, closeCompleted}
			if diff := cmp.Diff(want, summary(t, conn.ToToken("tok"))); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKindMismatch checks that a connect routed with another kind is
// treated as an unknown task.
func TestKindMismatch(t *testing.T) {
	conn := newFakeConn()
	r := newTestRunner(t, conn)
	info := startTask(t, r, func(context.Context, *Progress) (any, error) { return 1, nil })
	waitDone(t, r, info.ID)
	req := connectReq(t, r, info.StreamURL, "tok")
	req.Identifier = "job:" + info.ID
	if _, err := r.Connect(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := []string{`task_failed {"error":"task not found","code":"TASK_NOT_FOUND"}`, `connection_close {"reason":"task_not_found"} close`}
	if diff := cmp.Diff(want, summary(t, conn.ToToken("tok"))); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestSweepInterval(t *testing.T) {
	tests := []struct{ retention, want time.Duration }{
		{time.Millisecond, time.Second},
		{10 * time.Second, 5 * time.Second},
		{DefaultRetention, time.Minute},
		{24 * time.Hour, time.Minute},
	}
	for _, tt := range tests {
		if got := sweepInterval(tt.retention); got != tt.want {
			t.Errorf("sweepInterval(%v) = %v, want %v", tt.retention, got, tt.want)
		}
	}
}
