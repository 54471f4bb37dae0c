package callback_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/callback"
)

// slowClient is a gateway that sends a callback's headers and then only
// part of its body, over a raw loopback connection.
type slowClient struct {
	conn net.Conn
	r    *bufio.Reader
}

// startSlow sends the headers of a callback announcing contentLength bytes
// and then the first part bytes of body.
func startSlow(t *testing.T, addr string, contentLength int, body string) *slowClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		callbackPath, contentLength, body)
	return &slowClient{conn: conn, r: bufio.NewReader(conn)}
}

// status reads the answer's status, waiting at most wait.
func (c *slowClient) status(t *testing.T, wait time.Duration) int {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", wait, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFault7SlowAndHeavyBodies checks the defences against slow and heavy
// callback bodies (issue 12, fault 7): a body read deadline, a small default
// body cap enforced from Content-Length before reading, and a Shutdown that
// a slow body cannot hold.
func TestFault7SlowAndHeavyBodies(t *testing.T) {
	body := connectBody(t, "tok", "/api/sse/tasks/1", nil)

	t.Run("default cap is a few KiB", func(t *testing.T) {
		if callback.DefaultMaxBodyBytes > 64<<10 {
			t.Errorf("DefaultMaxBodyBytes = %d, want at most 64 KiB", callback.DefaultMaxBodyBytes)
		}
	})

	t.Run("slow body hits the read deadline", func(t *testing.T) {
		h := newHandler(t, callback.WithSecret(testSecret),
			callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), &fakeService{}),
			callback.WithBodyTimeout(100*time.Millisecond))
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := startSlow(t, srv.Listener.Addr().String(), len(body), body[:10])
		if got := c.status(t, 10*time.Second); got != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", got)
		}
	})

	t.Run("oversized body refused before it is sent", func(t *testing.T) {
		h := newHandler(t, callback.WithSecret(testSecret),
			callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), &fakeService{}),
			callback.WithBodyTimeout(time.Minute))
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := startSlow(t, srv.Listener.Addr().String(), 1<<20, "") // headers only
		if got := c.status(t, 10*time.Second); got != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d, want 413", got)
		}
	})

	t.Run("Shutdown is not held by a slow body", func(t *testing.T) {
		authenticated := make(chan struct{}, 1)
		h := newHandler(t, callback.WithAuthenticator(callback.AuthenticatorFunc(func(*http.Request) error {
			authenticated <- struct{}{}
			return nil
		})), callback.WithRoute(callback.Path("task", "/api/sse/tasks/{id}"), &fakeService{}),
			callback.WithBodyTimeout(time.Minute))
		srv := httptest.NewServer(h)
		defer srv.Close()
		c := startSlow(t, srv.Listener.Addr().String(), len(body), body[:10])
		<-authenticated // the handler is at the body
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var got []string
		if err := h.Shutdown(ctx); err != nil {
			got = append(got, "Shutdown: "+err.Error())
		}
		got = append(got, fmt.Sprint("status ", c.status(t, 5*time.Second)))
		if diff := cmp.Diff([]string{"status 503"}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("example server has timeouts", func(t *testing.T) {
		var missing []string
		for _, field := range []string{"ReadHeaderTimeout", "ReadTimeout", "WriteTimeout", "IdleTimeout"} {
			if !strings.Contains(packageDoc(t), field+":") {
				missing = append(missing, field)
			}
		}
		if diff := cmp.Diff([]string(nil), missing); diff != "" {
			t.Errorf("the package documentation's server lacks (-want +got):\n%s", diff)
		}
	})
}

// packageDoc returns the source of the package documentation.
func packageDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
