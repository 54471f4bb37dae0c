package amqp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

func TestKeyHelpers(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{ConnectionKey("abc-123"), "connection.abc-123"},
		{SubjectKey("alice"), "subject.alice"},
		{RoleKey("admin"), "role.admin"},
		{BroadcastKey, "broadcast"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestBindings(t *testing.T) {
	tests := []struct {
		name                     string
		requestID, subject, role string
		want                     *callback.ConnectResponse
		wantErr                  bool
	}{
		{name: "all", requestID: "r1", subject: "alice", role: "admin", want: &callback.ConnectResponse{
			RequestID: "r1", Subject: "alice", Role: "admin",
			Bindings: []string{"connection.r1", "subject.alice", "role.admin", "broadcast"}}},
		{name: "no subject", requestID: "r1", role: "admin", want: &callback.ConnectResponse{
			RequestID: "r1", Role: "admin", Bindings: []string{"connection.r1", "role.admin", "broadcast"}}},
		{name: "no role", requestID: "r1", subject: "alice", want: &callback.ConnectResponse{
			RequestID: "r1", Subject: "alice", Bindings: []string{"connection.r1", "subject.alice", "broadcast"}}},
		{name: "request ID only", requestID: "550e8400-e29b-41d4-a716-446655440000", want: &callback.ConnectResponse{
			RequestID: "550e8400-e29b-41d4-a716-446655440000",
			Bindings:  []string{"connection.550e8400-e29b-41d4-a716-446655440000", "broadcast"}}},
		{name: "non-ASCII subject", requestID: "r", subject: "zoë", want: &callback.ConnectResponse{
			RequestID: "r", Subject: "zoë", Bindings: []string{"connection.r", "subject.zoë", "broadcast"}}},
		{name: "empty request ID", subject: "alice", wantErr: true},
		{name: "wildcard request ID", requestID: "*", wantErr: true},
		{name: "hash request ID", requestID: "#", wantErr: true},
		{name: "dotted request ID", requestID: "a.b", wantErr: true},
		{name: "request ID with space", requestID: "a b", wantErr: true},
		{name: "request ID with NUL", requestID: "a\x00", wantErr: true},
		{name: "request ID too long", requestID: strings.Repeat("r", 245), wantErr: true},
		{name: "request ID at the limit", requestID: strings.Repeat("r", 244), want: &callback.ConnectResponse{
			RequestID: strings.Repeat("r", 244),
			Bindings:  []string{"connection." + strings.Repeat("r", 244), "broadcast"}}},
		{name: "wildcard subject", requestID: "r", subject: "*", wantErr: true},
		{name: "dotted subject", requestID: "r", subject: "alice@example.com", wantErr: true},
		{name: "hash role", requestID: "r", role: "#", wantErr: true},
		{name: "invalid UTF-8 role", requestID: "r", role: "\xff", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Bindings(tt.requestID, tt.subject, tt.role)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidKey) || got != nil {
					t.Fatalf("Bindings = %+v, %v; want nil, ErrInvalidKey", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Bindings (-want +got):\n%s", diff)
			}
			for _, k := range got.Bindings {
				if err := checkKey(k); err != nil {
					t.Errorf("binding %q is not a valid routing key: %v", k, err)
				}
			}
		})
	}
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key   string
		valid bool
	}{
		{"connection.abc", true},
		{"broadcast", true},
		{"subject.zoë", true},
		{"a.b.c.d", true},
		{"app-specific_key:1", true},
		{strings.Repeat("k", 255), true},
		{"", false},
		{strings.Repeat("k", 256), false},
		{"connection.*", false},
		{"#", false},
		{"a.#.b", false},
		{".a", false},
		{"a.", false},
		{"a..b", false},
		{".", false},
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u0085b", false},
		{"a\u2028b", false},
		{"a\u00a0b", false},
		{"\xff", false},
	}
	for _, tt := range tests {
		err := checkKey(tt.key)
		if tt.valid && err != nil {
			t.Errorf("checkKey(%q) = %v, want nil", tt.key, err)
		}
		if !tt.valid && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("checkKey(%q) = %v, want ErrInvalidKey", tt.key, err)
		}
	}
}

func TestRoute(t *testing.T) {
	tests := []struct{ key, want string }{
		{"connection.abc", "connection"},
		{"subject.alice", "subject"},
		{"role.admin", "role"},
		{"broadcast", "broadcast"},
		{"task.42", "other"},
		{"connectionx.1", "other"},
		{"", "other"},
	}
	for _, tt := range tests {
		if got := route(tt.key); got != tt.want {
			t.Errorf("route(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{"connection.abc", "subject.zoë", "a..b", "#", "a.*", "", "\xff", "a\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if err := checkKey(key); err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("checkKey(%q) = %v, not ErrInvalidKey", key, err)
			}
			return
		}
		if key == "" || len(key) > maxKeyBytes || strings.ContainsAny(key, "*# \n") {
			t.Fatalf("checkKey accepted %q", key)
		}
		for _, w := range strings.Split(key, ".") {
			if w == "" {
				t.Fatalf("checkKey accepted %q with an empty word", key)
			}
		}
		// A valid last word makes a valid key with every prefix.
		if checkID("id", key) == nil {
			for k, want := range map[string]string{ConnectionKey(key): "connection", SubjectKey(key): "subject", RoleKey(key): "role"} {
				if err := checkKey(k); err != nil {
					t.Fatalf("checkID accepted %q but checkKey(%q) = %v", key, k, err)
				}
				// The route is the kind, never the identifier.
				if got := route(k); got != want {
					t.Fatalf("route(%q) = %q, want %q", k, got, want)
				}
			}
		}
	})
}

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		ev   sseconn.Event
		want string
	}{
		{"named", sseconn.Event{Name: "task_event", Data: `{"progress":0.5}`},
			`{"event":"task_event","data":"{\"progress\":0.5}"}`},
		{"unnamed", sseconn.Event{Data: "hello"}, `{"data":"hello"}`},
		{"unnamed empty", sseconn.Event{}, `{"data":""}`},
		{"newlines", sseconn.Event{Data: "a\nb\r\n"}, `{"data":"a\nb\r\n"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encode(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("encode = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "amqp://guest:guest@127.0.0.1:5672/", want: "amqp://guest:xxxxx@127.0.0.1:5672/"},
		{in: "amqps://u:p%40ss@broker.example/vhost", want: "amqps://u:xxxxx@broker.example/vhost"},
		{in: "amqp://broker", want: "amqp://broker"},
		{in: "amqp://user@broker/", want: "amqp://user@broker/"},
		{in: "http://u:secret@broker/", wantErr: true},
		{in: "amqp://u:secret%zz@broker/", wantErr: true},
		{in: "amqp://u:secret@broker/ x", wantErr: true},
	}
	for _, tt := range tests {
		got, err := redactURL(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("redactURL(%q) = %q, want an error", tt.in, got)
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("redactURL(%q) error %q reveals the password", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("redactURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want func(c config) bool
	}{
		{"defaults", nil, func(c config) bool {
			return c.timeout == DefaultPublishTimeout && c.dialTimeout == DefaultDialTimeout &&
				c.minBackoff == DefaultMinBackoff && c.maxBackoff == DefaultMaxBackoff &&
				c.logger != nil && c.exchange() == "sse.events" && !c.mandatory
		}},
		{"nil option and logger", []Option{nil, WithLogger(nil)}, func(c config) bool { return c.logger != nil }},
		{"zero durations mean defaults", []Option{WithPublishTimeout(0), WithDialTimeout(-1), WithBackoff(0, 0)}, func(c config) bool {
			return c.timeout == DefaultPublishTimeout && c.dialTimeout == DefaultDialTimeout &&
				c.minBackoff == DefaultMinBackoff && c.maxBackoff == DefaultMaxBackoff
		}},
		{"max below min", []Option{WithBackoff(time.Second, time.Millisecond)}, func(c config) bool {
			return c.minBackoff == time.Second && c.maxBackoff == time.Second
		}},
		{"prefix", []Option{WithEnvPrefix("prod")}, func(c config) bool { return c.exchange() == "prod.sse.events" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := newConfig(tt.opts); !tt.want(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	ev := sseconn.Event{Name: "task_event", Data: `{"progress":0.5,"message":"working"}`}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckKey(b *testing.B) {
	key := ConnectionKey("550e8400-e29b-41d4-a716-446655440000")
	b.ReportAllocs()
	for b.Loop() {
		if err := checkKey(key); err != nil {
			b.Fatal(err)
		}
	}
}
