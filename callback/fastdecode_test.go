package callback

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var fastDecodeSeeds = []string{
	`{"action":"connect","token":"0b6f-uuid","request":{"url":"/api/sse/tasks?task_id=42","headers":{"host":"h","accept":"text/event-stream","x-many":["a","b"]}}}`,
	`{"action": "disconnect", "token": "t", "reason": "client_closed", "request": {"url": "/x", "headers": {}}}`,
	`{"action":"connect","token":"t","extra":{"a":[1,2.5e3,-0,true,false,null,"s"]},"request":{"url":"/x","more":1}}`,
	`{"Action":"connect","token":"t","request":{"url":"/x"}}`,
	`{"action":"connect","action":"disconnect","token":"t","request":{"url":"/x"}}`,
	`{"action":"connect","token":"t","request":{"url":"/x","headers":{"X-A":"1","x-a":["2"]}}}`,
	`{"action":"connect","token":"t","request":{"url":"/x","headers":{"a":"1","a":"2"}}}`,
	`{"action":"connect","token":"t","request":{"url":"/x","headers":{"a":[],"b":null}}}`,
	`{"action":"connect","token":"t\u00e9","request":{"url":"/x"}}`,
	`{"action":"connect","token":"t","request":{"url":"/x"}} x`,
	`{"action":"connect","token":"t","request":{"url":"/x"},}`,
	`{"action":"connect","token":"t","n":01,"request":{"url":"/x"}}`,
	`{"action":"connect","token":"t","request":{"url":"/x","headers":{"":"v","a b":"c"}}}`,
	` {"token":"t"} `, `[]`, `null`, `{}`, `{"request":{"headers":{"x":["a",1]}}}`,
}

// FuzzFastDecode holds fastDecode to slowDecode (encoding/json): whenever
// fastDecode accepts a body, slowDecode must accept it too and produce the
// same fields.
func FuzzFastDecode(f *testing.F) {
	for _, s := range fastDecodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastDecode(body)
		if !ok {
			return
		}
		slow, p := slowDecode(body)
		if p != nil {
			t.Fatalf("fastDecode accepted %q, encoding/json refused it: %v", body, p)
		}
		if diff := cmp.Diff(slow, fast, cmp.AllowUnexported(callbackFields{})); diff != "" {
			t.Fatalf("fastDecode(%q) differs from encoding/json (-slow +fast):\n%s", body, diff)
		}
	})
}

// TestFastDecodeCommon checks that fastDecode handles the gateway's own
// bodies, rather than handing them all to encoding/json.
func TestFastDecodeCommon(t *testing.T) {
	for _, s := range fastDecodeSeeds[:3] {
		if _, ok := fastDecode([]byte(s)); !ok {
			t.Errorf("fastDecode refused %s", s)
		}
	}
}
