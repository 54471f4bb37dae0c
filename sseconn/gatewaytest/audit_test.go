package gatewaytest_test

// Tests added by a test audit: documented behaviour that no other test
// asserted.

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// Without WithCallbackTimeout, a connect callback that never answers is
// given up after the reference gateway's 5 s, and the browser gets 504
// GATEWAY_TIMEOUT. It takes 5 s, so it runs in parallel with the other
// parallel tests.
func TestAuditDefaultCallbackTimeout(t *testing.T) {
	t.Parallel()
	if gatewaytest.DefaultCallbackTimeout != 5*time.Second {
		t.Errorf("DefaultCallbackTimeout = %v, want 5s", gatewaytest.DefaultCallbackTimeout)
	}
	b := newBackend(t, hang)
	gw := newGateway(t, b.callbackURL())
	start := time.Now()
	st := connect(t, gw, "/api/sse/tasks?task_id=42", nil)
	elapsed := time.Since(start)
	got := answer{st.StatusCode, st.Header.Get("Content-Type"), string(st.Body())}
	want := answer{http.StatusGatewayTimeout, jsonCT, errorBody("GATEWAY_TIMEOUT", "Backend did not respond in time")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
	// The timer cannot fire early; the upper bound leaves room for a noisy
	// machine but not for a second timeout.
	if elapsed < 5*time.Second || elapsed > 9*time.Second {
		t.Errorf("answered after %v, want 5 s", elapsed)
	}
}

// The heartbeat interval defaults to the reference gateway's 15 s. (Waiting
// for one would take 15 s; WithHeartbeat's behaviour is TestHeartbeat.)
func TestAuditDefaultHeartbeat(t *testing.T) {
	if gatewaytest.DefaultHeartbeat != 15*time.Second {
		t.Errorf("DefaultHeartbeat = %v, want 15s", gatewaytest.DefaultHeartbeat)
	}
}
