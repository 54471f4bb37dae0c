package version_test

// Tests added by the test audit (see /tmp/audit.md).

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/version"
)

// An HTTPSource has no Close, so nothing it starts may outlive a fetch:
// with the default client, no keep-alive connection (and none of its
// goroutines) stays open once Current has returned, while the version.json
// server is still up. It uses no global transport either.
func TestAuditHTTPSourceLeavesNoConnectionOpen(t *testing.T) {
	vs := newVersionServer(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version":"1.2.3"}`)
	})
	ignore := goleak.IgnoreCurrent()
	src := newSource(t, vs.url(), version.WithoutSourceCache())
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		info, err := src.Current(ctx)
		cancel()
		if err != nil || info.Version != "1.2.3" {
			t.Fatalf("Current = %+v, %v; want version 1.2.3", info, err)
		}
	}
	if got := vs.hits.Load(); got != 2 {
		t.Fatalf("%d fetches, want 2 (cache disabled)", got)
	}
	goleak.VerifyNone(t, ignore)
}
