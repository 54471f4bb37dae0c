package callback

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *Request // compared without URL; wantURL instead
		url  string
		prob *problem
	}{
		{
			name: "protocol connect example",
			body: `{"action": "connect",
 "token": "0b6f…-uuid",
 "request": {"url": "/api/sse/tasks?task_id=42",
             "headers": {"host": "…", "accept": "text/event-stream", "cookie": "…",
                         "last-event-id": "…", "x-many": ["a", "b"]}}}`,
			want: &Request{Action: "connect", Token: "0b6f…-uuid", Header: http.Header{
				"Host": {"…"}, "Accept": {"text/event-stream"}, "Cookie": {"…"}, "Last-Event-Id": {"…"}, "X-Many": {"a", "b"},
			}},
			url: "/api/sse/tasks?task_id=42",
		},
		{
			name: "protocol disconnect example",
			body: `{"action": "disconnect", "token": "0b6f…", "reason": "client_closed",
 "request": {"url": "/api/sse/tasks?task_id=42", "headers": {}}}`,
			want: &Request{Action: "disconnect", Token: "0b6f…", Reason: "client_closed", Header: http.Header{}},
			url:  "/api/sse/tasks?task_id=42",
		},
		{
			name: "headers with mixed case and empty values",
			body: `{"action":"connect","token":"t","request":{"url":"/x","headers":{"X-A":"1","x-a":["2"],"x-empty":[],"x-null":null}}}`,
			want: &Request{Action: "connect", Token: "t", Header: http.Header{"X-A": {"1", "2"}}},
			url:  "/x",
		},
		{name: "empty", body: "", prob: invalid("missing request body", nil)},
		{name: "null", body: "null", prob: invalid("missing action", map[string]string{"field": "action", "reason": "is missing"})},
		{name: "cookie value not echoed", body: `{"action":"connect","request":{"headers":{"cookie":"session=SECRETVALUE"` + "\x01" + `}}}`,
			prob: invalid("invalid JSON", map[string]string{"reason": "syntax error"})},
		{name: "bad header array", body: `{"action":"connect","token":"t","request":{"url":"/x","headers":{"a":["SECRETVALUE",1]}}}`,
			prob: invalid("invalid JSON", map[string]string{"field": "request.headers", "reason": "values must be strings or arrays of strings"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, prob := decode([]byte(tt.body))
			if diff := cmp.Diff(tt.prob, prob, cmp.AllowUnexported(problem{})); diff != "" {
				t.Fatalf("problem mismatch (-want +got):\n%s", diff)
			}
			if prob != nil {
				if strings.Contains(prob.Error(), "SECRETVALUE") || strings.Contains(fmt.Sprint(prob.details), "SECRETVALUE") {
					t.Errorf("problem %v quotes the body", prob)
				}
				return
			}
			if got.URL.String() != tt.url {
				t.Errorf("URL = %q, want %q", got.URL, tt.url)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Request{}, "URL")); diff != "" {
				t.Errorf("request mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzDecode checks that decode never panics, that every failure is a 400,
// and that every success is a valid callback.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"action":"connect","token":"0b6f…-uuid","request":{"url":"/api/sse/tasks?task_id=42","headers":{"host":"…","accept":"text/event-stream","cookie":"…","last-event-id":"…","x-many":["a","b"]}}}`,
		`{"action":"disconnect","token":"0b6f…","reason":"client_closed","request":{"url":"/api/sse/tasks?task_id=42","headers":{}}}`,
		`{"action":"connect","token":"t","request":{"url":"/x","headers":{"a":null,"b":[],"c":[null],"d":{"e":1}}}}`,
		`{"action":"connect","token":"t","request":{"url":"http://h:1/%zz"}}`,
		`{"action":"connect","token":"t","request":{"url":"*"}}`,
		`{"action":1}`, `[]`, `null`, ``, `{"request":{"url":"/"}}`, "{\"token\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, p := decode(body)
		if p != nil {
			if req != nil {
				t.Fatalf("both a request and a problem")
			}
			if p.status != http.StatusBadRequest || p.message == "" {
				t.Fatalf("problem %+v, want a 400 with a message", p)
			}
			return
		}
		if req.Action != "connect" && req.Action != "disconnect" {
			t.Fatalf("action %q", req.Action)
		}
		if req.Token == "" || req.URL == nil || req.Header == nil {
			t.Fatalf("incomplete request %+v", req)
		}
		if req.Action == "connect" && req.Reason != "" {
			t.Fatalf("reason on connect")
		}
		for k, v := range req.Header {
			if len(v) == 0 {
				t.Fatalf("header %q without values", k)
			}
		}
	})
}
