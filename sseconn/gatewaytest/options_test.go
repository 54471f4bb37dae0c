package gatewaytest_test

import (
	"strings"
	"testing"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TestZeroOptions checks that zero and nil options mean the defaults.
func TestZeroOptions(t *testing.T) {
	b := newBackend(t, nil)
	gw := newGateway(t, b.callbackURL(),
		nil,
		gatewaytest.WithGeneration(0),
		gatewaytest.WithCallbackTimeout(-1),
		gatewaytest.WithHeartbeat(0),
		gatewaytest.WithMaxBodyBytes(0),
		gatewaytest.WithLogger(nil),
		gatewaytest.WithCORS(""),
	)
	st := openStream(t, gw, gatewaytest.DefaultGeneration, "/x") // reads "ready"
	if got := st.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin = %q without CORS", got)
	}
	prefix := `{"token":"` + st.Token() + `","event":{"data":"`
	body := prefix + strings.Repeat("x", gatewaytest.DefaultMaxBodyBytes+1-len(prefix)-3) + `"}}`
	if got := send(t, gw, body); got.Status != 413 {
		t.Errorf("send of %d bytes: status %d, want 413", len(body), got.Status)
	}
	gw.DropStream("unknown") // no effect on tokens that are not live
	sendOK(t, gw, st.Token(), nil, false)
}
