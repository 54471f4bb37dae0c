package wire

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The literals below are taken from PROTOCOL.md.
func TestCallbackDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Callback
	}{
		{
			name: "connect with string and array headers",
			in: `{"action": "connect",
			      "token": "0b6f-uuid",
			      "request": {"url": "/api/sse/tasks?task_id=42",
			                  "headers": {"host": "gw", "accept": "text/event-stream", "cookie": "a=b",
			                              "last-event-id": "7", "x-many": ["a", "b"]}}}`,
			want: Callback{Action: ActionConnect, Token: "0b6f-uuid", Request: Request{
				URL: "/api/sse/tasks?task_id=42",
				Headers: Headers{"host": {"gw"}, "accept": {"text/event-stream"}, "cookie": {"a=b"},
					"last-event-id": {"7"}, "x-many": {"a", "b"}},
			}},
		},
		{
			name: "disconnect",
			in:   `{"action": "disconnect", "token": "0b6f", "reason": "client_closed", "request": {"url": "/api/sse/tasks?task_id=42", "headers": {}}}`,
			want: Callback{Action: ActionDisconnect, Token: "0b6f", Reason: ReasonClientClosed, Request: Request{
				URL: "/api/sse/tasks?task_id=42", Headers: Headers{},
			}},
		},
		{
			name: "unknown fields are ignored",
			in:   `{"action":"connect","token":"t","future":{"x":1},"request":{"url":"/","headers":{"h":null},"extra":true}}`,
			want: Callback{Action: ActionConnect, Token: "t", Request: Request{URL: "/", Headers: Headers{"h": nil}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Callback
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeaderValueRejectsOtherTypes(t *testing.T) {
	for _, in := range []string{`1`, `true`, `{"a":"b"}`, `[1,2]`, `["a",null,3]`, `nul`} {
		var v HeaderValue
		if err := json.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("Unmarshal(%s) = %q, want an error", in, v)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"send", SendRequest{Token: "0b6f", Event: &Event{Name: "task_event", Data: `{"progress":0.5}`}},
			`{"token":"0b6f","event":{"name":"task_event","data":"{\"progress\":0.5}"}}`},
		{"send and close", SendRequest{Token: "t", Event: &Event{Data: "x"}, Close: true},
			`{"token":"t","event":{"data":"x"},"close":true}`},
		{"no-op", SendRequest{Token: "t"}, `{"token":"t"}`},
		{"send answer", SendResponse{Status: StatusBuffered}, `{"status":"buffered"}`},
		{"error body", ErrorBody{Error: ErrorDetail{Message: "Backend returned 401", Code: CodeBackendAuthFailed}},
			`{"error":{"message":"Backend returned 401","code":"BACKEND_AUTH_FAILED"}}`},
		{"AMQP message", AMQPMessage{Event: "task_event", Data: `{"x":1}`}, `{"event":"task_event","data":"{\"x\":1}"}`},
		{"callback", Callback{Action: ActionConnect, Token: "t", Request: Request{URL: "/a?b=c",
			Headers: Headers{"x-many": {"a", "b"}, "host": {"h"}}}},
			`{"action":"connect","token":"t","request":{"url":"/a?b=c","headers":{"host":"h","x-many":["a","b"]}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("Marshal = %s\nwant      %s", b, tt.want)
			}
			// Decode back into the same type and compare.
			back := newOf(tt.v)
			if err := json.Unmarshal(b, back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.v, deref(back)); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func newOf(v any) any {
	switch v.(type) {
	case SendRequest:
		return new(SendRequest)
	case SendResponse:
		return new(SendResponse)
	case ErrorBody:
		return new(ErrorBody)
	case AMQPMessage:
		return new(AMQPMessage)
	case Callback:
		return new(Callback)
	}
	panic("unknown type")
}

func deref(p any) any {
	switch p := p.(type) {
	case *SendRequest:
		return *p
	case *SendResponse:
		return *p
	case *ErrorBody:
		return *p
	case *AMQPMessage:
		return *p
	case *Callback:
		return *p
	}
	panic("unknown type")
}

func TestHeaders(t *testing.T) {
	h := Headers{"cookie": {"a=b"}, "x-many": {"1", "2"}, "Weird-Case": {"w"}}
	if got := h.Get("Cookie"); got != "a=b" {
		t.Errorf("Get(Cookie) = %q", got)
	}
	if got := h.Get("weird-case"); got != "w" {
		t.Errorf("Get(weird-case) = %q", got)
	}
	if diff := cmp.Diff([]string{"1", "2"}, h.Values("X-Many")); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
	if got := h.Get("absent"); got != "" {
		t.Errorf("Get(absent) = %q", got)
	}
	want := http.Header{"Cookie": {"a=b"}, "X-Many": {"1", "2"}, "Weird-Case": {"w"}}
	if diff := cmp.Diff(want, h.HTTPHeader()); diff != "" {
		t.Errorf("HTTPHeader (-want +got):\n%s", diff)
	}
	back := FromHTTPHeader(want)
	if diff := cmp.Diff(Headers{"cookie": {"a=b"}, "x-many": {"1", "2"}, "weird-case": {"w"}}, back); diff != "" {
		t.Errorf("FromHTTPHeader (-want +got):\n%s", diff)
	}
}

func FuzzCallbackDecode(f *testing.F) {
	f.Add(`{"action":"connect","token":"t","request":{"url":"/x","headers":{"a":"b","c":["d","e"]}}}`)
	f.Add(`{"request":{"headers":{"a":[1]}}}`)
	f.Add(`{"request":{"headers":{"a":null}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		var c Callback
		if err := json.Unmarshal([]byte(in), &c); err != nil {
			return
		}
		// Whatever decodes re-encodes and decodes to the same value.
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a decoded callback: %v", err)
		}
		var again Callback
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("re-decode %s: %v", b, err)
		}
		for k, v := range c.Request.Headers {
			if len(v) == 0 {
				c.Request.Headers[k] = nil
			}
		}
		for k, v := range again.Request.Headers {
			if len(v) == 0 {
				again.Request.Headers[k] = nil
			}
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}
