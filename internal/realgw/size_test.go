package realgw_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn"
)

// TestRealGatewayEventSize sends the largest event whose request body fits
// the gateway's 100 KiB limit, which arrives intact, and one byte more, which
// the manager refuses before any I/O. It also checks the limit itself: the
// gateway takes a body of exactly 102400 bytes and answers 413 to one more.
func TestRealGatewayEventSize(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		b := newBackend(t, dir, gen, backendConfig{})
		ctx := context.Background()
		st := b.open(t, usersPath+"big")
		expectEvents(t, st, ready(gen)...)
		token, _ := b.mgr.Token("user:big")

		overhead := len(fmt.Sprintf(`{"token":%q,"event":{"data":""}}`, token))
		largest := sseconn.Event{Data: strings.Repeat("x", sseconn.DefaultMaxBodyBytes-overhead)}
		if err := b.mgr.Send(ctx, "user:big", largest); err != nil {
			t.Fatalf("largest event (%d bytes of data): %v", len(largest.Data), err)
		}
		got := next(t, st, 1)[0]
		if got.Name != "" || got.Data != largest.Data {
			t.Fatalf("browser got %q with %d bytes of data, want %d bytes intact", got.Name, len(got.Data), len(largest.Data))
		}

		var requests atomic.Int32
		trace := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GetConn: func(string) { requests.Add(1) }})
		tooLarge := sseconn.Event{Data: largest.Data + "x"}
		if err := b.mgr.Send(trace, "user:big", tooLarge); !errors.Is(err, sseconn.ErrTooLarge) {
			t.Fatalf("one byte more = %v, want ErrTooLarge", err)
		}
		if n := requests.Load(); n != 0 {
			t.Fatalf("%d requests for a refused event, want none", n)
		}

		// The gateway's own limit is the one the manager assumes.
		for _, tc := range []struct {
			size int
			want int
		}{
			{sseconn.DefaultMaxBodyBytes, http.StatusOK},
			{sseconn.DefaultMaxBodyBytes + 1, http.StatusRequestEntityTooLarge},
		} {
			body := fmt.Sprintf(`{"token":%q,"event":{"data":"%s"}}`, token, strings.Repeat("y", tc.size-overhead))
			status := post(t, b.gw.URL, body)
			if status != tc.want {
				t.Errorf("body of %d bytes: status %d, want %d", len(body), status, tc.want)
			}
		}
		if got := next(t, st, 1)[0]; len(got.Data) != sseconn.DefaultMaxBodyBytes-overhead {
			t.Fatalf("browser got %d bytes, want %d", len(got.Data), sseconn.DefaultMaxBodyBytes-overhead)
		}
	})
}

// post POSTs body to the gateway's /internal/send and returns the status.
func post(t *testing.T, gatewayURL, body string) int {
	t.Helper()
	status, _ := postBody(t, gatewayURL, body)
	return status
}

// postBody POSTs body to the gateway's /internal/send on a connection of its
// own and returns the answer's status and body.
func postBody(t *testing.T, gatewayURL, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, gatewayURL+"/internal/send", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(answer)
}
