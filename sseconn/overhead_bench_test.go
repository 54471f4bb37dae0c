package sseconn

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/internal/wire"
)

// memTransport answers every request in memory as the gateway does, after
// reading the body: no network, so a benchmark through it measures only
// the client's own work.
type memTransport struct{}

func (memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(`{"status":"ok"}`)),
		ContentLength: 15,
		Request:       r,
	}, nil
}

// BenchmarkSendOverhead measures the client's own work per send, without
// the network and its noise: Manager.Send with the default doer, and the
// plain-timeout and plain loops of bench_test.go, all over a transport that
// answers in memory. What a loopback send costs on top (about 55 µs here)
// is the same for every side.
func BenchmarkSendOverhead(b *testing.B) {
	ev := Event{Name: "task_event", Data: `{"progress":0.5,"message":"step 3 of 7"}`}
	ctx := context.Background()
	b.Run("manager", func(b *testing.B) {
		m, err := New("http://gateway.invalid")
		if err != nil {
			b.Fatal(err)
		}
		m.rc.HTTPClient.Transport = memTransport{}
		id := "task:" + uuid.New()
		if err := m.Register(ctx, id, uuid.New()); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Send(ctx, id, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, side := range []struct {
		name    string
		timeout time.Duration
	}{{"plain-timeout", DefaultSendTimeout}, {"plain", 0}} {
		b.Run(side.name, func(b *testing.B) {
			c := &http.Client{Transport: memTransport{}}
			body := encodeSend(tokenRef{s: uuid.New()}, &ev, false)
			url := "http://gateway.invalid" + wire.SendPath
			b.ReportAllocs()
			for b.Loop() {
				if err := plainPost(ctx, c, url, body, side.timeout); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// plainPost is one iteration of the baseline loop: POST the pre-encoded body,
// read and close the answer, check the status. A timeout > 0 bounds the
// send with context.WithTimeout, as the manager bounds each send.
func plainPost(ctx context.Context, c *http.Client, url string, body []byte, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d", url, resp.StatusCode)
	}
	return nil
}
