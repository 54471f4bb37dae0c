package sseconn_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn"
)

// The gateway benchmarks repeat the send benchmarks behind the generation-2
// reference gateway (node dist/index.js in the folder that
// SSEGATE_REFERENCE_GATEWAY_2 names), with real streams open: the gateway
// writes every event to a browser-like client that reads it. They are
// skipped when the variable is unset.

// refGateway is a running reference gateway with open streams.
type refGateway struct {
	url    string   // base URL, such as http://127.0.0.1:41234
	tokens []string // tokens of the open streams
}

// startRefGateway starts the generation-2 reference gateway with a callback
// server that accepts every connect, and opens n streams to it.
func startRefGateway(b *testing.B, n int) *refGateway {
	b.Helper()
	dir := testenv.Require(b, testenv.Gateway2)
	tokens := make(chan string, n)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c wire.Callback
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&c); err != nil {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		if c.Action == wire.ActionConnect {
			tokens <- c.Token
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	b.Cleanup(cb.Close)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("node", filepath.Join(dir, "dist", "index.js"))
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), fmt.Sprintf("PORT=%d", port), "CALLBACK_URL="+cb.URL+"/cb")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard // one log line per event
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the reference gateway: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	g := &refGateway{url: fmt.Sprintf("http://127.0.0.1:%d", port)}

	// Wait until the gateway answers /readyz, polling with a deadline.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(g.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			b.Fatal("the reference gateway exited before it was ready")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatal("the reference gateway was not ready within 30 s")
		}
	}

	// Open the streams; each reader discards events after the ready one.
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(func() { cancel(); client.CloseIdleConnections() })
	for i := range n {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/sse/bench/%d", g.url, i), nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatalf("open stream %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("open stream %d: status %d", i, resp.StatusCode)
		}
		ready := make(chan struct{})
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				if ready != nil && strings.HasPrefix(sc.Text(), "event: ready") {
					close(ready)
					ready = nil
				}
			}
		}()
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			b.Fatalf("stream %d: no ready event within 10 s", i)
		}
		g.tokens = append(g.tokens, <-tokens)
	}
	return g
}

// benchGateway runs the manager or a plain loop (with and without the 2 s
// timeout) against the reference gateway, sequentially (parallel false,
// one stream) or with benchParallelism × GOMAXPROCS senders (8 streams).
func benchGateway(b *testing.B, parallel bool) {
	streams := 1
	if parallel {
		streams = benchParallelism * 2
	}
	loop := func(b *testing.B, send func(i int) error) {
		b.ReportAllocs()
		if !parallel {
			for b.Loop() {
				if err := send(0); err != nil {
					b.Fatal(err)
				}
			}
			return
		}
		var next atomic.Int64
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)-1) % streams
			for pb.Next() {
				if err := send(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("manager", func(b *testing.B) {
		g := startRefGateway(b, streams)
		m, err := sseconn.New(g.url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		ids := make([]string, streams)
		for i, tok := range g.tokens {
			ids[i] = "task:" + uuid.New()
			if err := m.Register(context.Background(), ids[i], tok); err != nil {
				b.Fatal(err)
			}
		}
		ctx := context.Background()
		loop(b, func(i int) error { return m.Send(ctx, ids[i], benchEvent) })
	})
	for _, side := range plainSides {
		b.Run(side.name, func(b *testing.B) {
			g := startRefGateway(b, streams)
			c := newPlainClient(b)
			bodies := make([][]byte, streams)
			for i, tok := range g.tokens {
				bodies[i] = plainBody(b, tok, benchEvent)
			}
			url := g.url + wire.SendPath
			ctx := context.Background()
			loop(b, func(i int) error { return plainPost(ctx, c, url, bodies[i], side.timeout) })
		})
	}
}

// BenchmarkGatewaySend is BenchmarkSend behind the reference gateway.
func BenchmarkGatewaySend(b *testing.B) { benchGateway(b, false) }

// BenchmarkGatewaySendParallel is BenchmarkSendParallel behind the
// reference gateway, with 8 senders on 8 streams.
func BenchmarkGatewaySendParallel(b *testing.B) { benchGateway(b, true) }

// BenchmarkGatewayInterleaved is BenchmarkSendInterleaved behind the
// reference gateway: one gateway, the manager's streams and the plain
// loop's streams side by side, sequentially ("seq") and with 8 senders of
// each ("par8").
func BenchmarkGatewayInterleaved(b *testing.B) {
	// "seq-aa" is the same loop with a plain send on both sides, each on
	// its own stream and client: its ratio would be 1 on a quiet machine,
	// and its spread is the noise that a round of "seq" carries.
	b.Run("seq-aa", func(b *testing.B) {
		g := startRefGateway(b, 2)
		c1, c2 := newPlainClient(b), newPlainClient(b)
		url := g.url + wire.SendPath
		b1, b2 := plainBody(b, g.tokens[0], benchEvent), plainBody(b, g.tokens[1], benchEvent)
		ctx := context.Background()
		interleave(b, 1,
			func(int) error { return plainPost(ctx, c1, url, b1, benchTimeout) },
			func(int) error { return plainPost(ctx, c2, url, b2, benchTimeout) })
	})
	for _, tc := range []struct {
		name       string
		goroutines int
	}{{"seq", 1}, {"par8", 8}} {
		b.Run(tc.name, func(b *testing.B) {
			n := tc.goroutines
			g := startRefGateway(b, 2*n)
			m, err := sseconn.New(g.url)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = m.Shutdown(context.Background()) })
			ids := make([]string, n)
			bodies := make([][]byte, n)
			for i := range n {
				ids[i] = "task:" + uuid.New()
				if err := m.Register(context.Background(), ids[i], g.tokens[i]); err != nil {
					b.Fatal(err)
				}
				bodies[i] = plainBody(b, g.tokens[n+i], benchEvent)
			}
			c := newPlainClient(b)
			url := g.url + wire.SendPath
			ctx := context.Background()
			interleave(b, n,
				func(i int) error { return m.Send(ctx, ids[i], benchEvent) },
				func(i int) error { return plainPost(ctx, c, url, bodies[i], benchTimeout) })
		})
	}
}
