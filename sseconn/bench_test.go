package sseconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/uuid"
	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn"
)

// The send benchmarks compare Manager.Send with hand-written net/http POST
// loops against the same loopback endpoint: "plain-timeout" bounds each send
// with the manager's 2 s timeout, "plain" has no timeout. The target is 0.97
// of plain-timeout's throughput; scripts/benchratio runs the sides in
// interleaved rounds and computes the per-round ratios. Each reports
// "newconns", the TCP connections the server accepted during the run, which
// stays at the client's concurrency when keep-alive connections are reused
// and would approach b.N if they were not. See BENCHMARKS.md.

// benchPoolSize is the idle pool of both clients: the default doer keeps 64
// idle connections per host, and the plain client is given the same. A run
// that opens more connections than this is not reusing them.
const benchPoolSize = 64

// benchParallelism is the b.SetParallelism of the parallel variants:
// 4 × GOMAXPROCS goroutines, each sending to its own identifier.
const benchParallelism = 4

// benchEvent is a small named event with JSON data, as a task runner sends.
var benchEvent = sseconn.Event{Name: "task_event", Data: `{"progress":0.5,"message":"step 3 of 7"}`}

// newSendServer starts a loopback endpoint that answers POST /internal/send
// as the gateway does (200 application/json {"status":"ok"}, after reading
// the body) and counts the TCP connections it accepts.
func newSendServer(tb testing.TB) (srv *httptest.Server, newConns *atomic.Int64) {
	tb.Helper()
	newConns = new(atomic.Int64)
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != wire.SendPath {
			http.NotFound(w, r)
			return
		}
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes)); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			newConns.Add(1)
		}
	}
	srv.Start()
	tb.Cleanup(srv.Close)
	return srv, newConns
}

// benchTimeout bounds every send of both sides: the manager's default
// send timeout, and the context.WithTimeout of the "plain-timeout" loop,
// which is what a careful user's hand-written loop does.
const benchTimeout = sseconn.DefaultSendTimeout

// newBenchManager returns a manager with the default doer and the default
// 2 s send timeout, sending to srv, with n identifiers registered:
// "task:<uuid>" with 36-character UUID tokens.
func newBenchManager(b *testing.B, srv *httptest.Server, n int) (m *sseconn.Manager, ids []string) {
	b.Helper()
	m, err := sseconn.New(srv.URL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Shutdown(context.Background()); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
	})
	for range n {
		id := "task:" + uuid.New()
		if err := m.Register(context.Background(), id, uuid.New()); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	return m, ids
}

// newPlainClient returns the baseline: an *http.Client over a keep-alive
// transport with the same idle pool as the default doer.
func newPlainClient(b *testing.B) *http.Client {
	b.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = benchPoolSize
	c := &http.Client{Transport: tr}
	b.Cleanup(c.CloseIdleConnections)
	return c
}

// plainBody is the /internal/send body the manager sends for ev.
func plainBody(b *testing.B, token string, ev sseconn.Event) []byte {
	b.Helper()
	body, err := json.Marshal(wire.SendRequest{Token: token, Event: &wire.Event{Name: ev.Name, Data: ev.Data}})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// plainPost is one iteration of the baseline loop (see the package's
// plainPost in overhead_bench_test.go).
var plainPost = sseconn.PlainPost

// measure runs loop, the timed part of a benchmark, and reports two
// metrics besides ns/op:
//
//   - newconns: the TCP connections the server accepted during the run. It
//     fails the benchmark if there were more than the idle pool holds:
//     keep-alive connections were then not reused.
//   - cpu-ns/op: the CPU time, user and system, that the whole process (client,
//     loopback server and garbage collector) used per send. Unlike ns/op it
//     barely moves when other processes compete for the cores.
func measure(b *testing.B, newConns *atomic.Int64, loop func()) {
	b.Helper()
	cpu0, ok0 := processCPU()
	loop()
	b.StopTimer()
	if cpu1, ok1 := processCPU(); ok0 && ok1 && b.N > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
	n := newConns.Load()
	b.ReportMetric(float64(n), "newconns")
	if n > benchPoolSize {
		b.Errorf("server accepted %d connections for %d sends; want at most %d (the idle pool): keep-alive connections are not reused", n, b.N, benchPoolSize)
	}
}

// plainSides are the baselines of every send benchmark: a hand-written loop
// that bounds each send with the manager's 2 s timeout, and one without any
// timeout.
var plainSides = []struct {
	name    string
	timeout time.Duration
}{
	{"plain-timeout", benchTimeout},
	{"plain", 0},
}

// benchSequential runs the sequential pair for ev: "manager" sends ev to one
// identifier, the plain sides POST the same body.
func benchSequential(b *testing.B, ev sseconn.Event) {
	b.Run("manager", func(b *testing.B) {
		srv, newConns := newSendServer(b)
		m, ids := newBenchManager(b, srv, 1)
		ctx := context.Background()
		b.ReportAllocs()
		measure(b, newConns, func() {
			for b.Loop() {
				if err := m.Send(ctx, ids[0], ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	for _, side := range plainSides {
		b.Run(side.name, func(b *testing.B) {
			srv, newConns := newSendServer(b)
			c := newPlainClient(b)
			url := srv.URL + wire.SendPath
			body := plainBody(b, uuid.New(), ev)
			ctx := context.Background()
			b.ReportAllocs()
			measure(b, newConns, func() {
				for b.Loop() {
					if err := plainPost(ctx, c, url, body, side.timeout); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkSend compares sequential sends to one identifier through the
// manager with the same POSTs made by a plain keep-alive client.
func BenchmarkSend(b *testing.B) { benchSequential(b, benchEvent) }

// sizedEvent returns a named event whose JSON data is n bytes long.
func sizedEvent(n int) sseconn.Event {
	const head, tail = `{"blob":"`, `"}`
	return sseconn.Event{Name: "task_event", Data: head + strings.Repeat("x", n-len(head)-len(tail)) + tail}
}

// BenchmarkSendSize is BenchmarkSend with events of 100 B, 10 KiB and
// 90 KiB of data: how the cost of validating and encoding grows. The plain
// sizes hold one long string without escapes, the best case; "-rows" holds
// an array of small objects, a quote every 8 bytes or so, as real payloads
// do, the case that costs most to escape.
func BenchmarkSendSize(b *testing.B) {
	rows := func(n int) sseconn.Event { return sseconn.Event{Name: "task_event", Data: sseconn.RowsJSON(n)} }
	for _, n := range []struct {
		name string
		ev   sseconn.Event
	}{
		{"100B", sizedEvent(100)},
		{"10KiB", sizedEvent(10 << 10)},
		{"90KiB", sizedEvent(90 << 10)},
		{"10KiB-rows", rows(10 << 10)},
		{"90KiB-rows", rows(90 << 10)},
	} {
		b.Run(n.name, func(b *testing.B) { benchSequential(b, n.ev) })
	}
}

// BenchmarkSendParallel is BenchmarkSend with benchParallelism × GOMAXPROCS
// goroutines, each sending to its own identifier (or token), so that sends
// run concurrently rather than queueing behind one identifier.
func BenchmarkSendParallel(b *testing.B) {
	b.Run("manager", func(b *testing.B) {
		srv, newConns := newSendServer(b)
		m, ids := newBenchManager(b, srv, benchPoolSize)
		var next atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		measure(b, newConns, func() {
			b.RunParallel(func(pb *testing.PB) {
				id := ids[int(next.Add(1)-1)%len(ids)]
				ctx := context.Background()
				for pb.Next() {
					if err := m.Send(ctx, id, benchEvent); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	})
	for _, side := range plainSides {
		b.Run(side.name, func(b *testing.B) {
			srv, newConns := newSendServer(b)
			c := newPlainClient(b)
			url := srv.URL + wire.SendPath
			bodies := make([][]byte, benchPoolSize)
			for i := range bodies {
				bodies[i] = plainBody(b, uuid.New(), benchEvent)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			measure(b, newConns, func() {
				b.RunParallel(func(pb *testing.PB) {
					body := bodies[int(next.Add(1)-1)%len(bodies)]
					ctx := context.Background()
					for pb.Next() {
						if err := plainPost(ctx, c, url, body, side.timeout); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// broadcastSize is the number of identifiers BenchmarkBroadcast sends to.
const broadcastSize = 1000

// BenchmarkBroadcast compares Manager.Broadcast to broadcastSize
// identifiers with a hand-written loop that POSTs the same bodies,
// pre-encoded, with the same bound on concurrency (8) and the same 2 s
// timeout per send. ns/op is
// one whole broadcast; sends/s is the throughput.
func BenchmarkBroadcast(b *testing.B) {
	b.Run("manager", func(b *testing.B) {
		srv, newConns := newSendServer(b)
		m, _ := newBenchManager(b, srv, broadcastSize)
		ctx := context.Background()
		b.ReportAllocs()
		measure(b, newConns, func() {
			for b.Loop() {
				for _, r := range m.Broadcast(ctx, nil, benchEvent) {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
		})
		b.ReportMetric(float64(b.N*broadcastSize)/b.Elapsed().Seconds(), "sends/s")
	})
	b.Run("plain", func(b *testing.B) {
		srv, newConns := newSendServer(b)
		c := newPlainClient(b)
		url := srv.URL + wire.SendPath
		bodies := make([][]byte, broadcastSize)
		for i := range bodies {
			bodies[i] = plainBody(b, uuid.New(), benchEvent)
		}
		ctx := context.Background()
		b.ReportAllocs()
		measure(b, newConns, func() {
			for b.Loop() {
				errs := make([]error, len(bodies))
				sem := make(chan struct{}, sseconn.DefaultBroadcastConcurrency)
				var wg sync.WaitGroup
				for i, body := range bodies {
					sem <- struct{}{}
					wg.Add(1)
					go func() {
						defer func() { <-sem; wg.Done() }()
						errs[i] = plainPost(ctx, c, url, body, benchTimeout)
					}()
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.N*broadcastSize)/b.Elapsed().Seconds(), "sends/s")
	})
}

// benchInterleaved alternates, send by send, Manager.Send and the
// plain-timeout loop's POST, each to its own loopback server, timing each
// side on its own. Drifting load then hits both sides within microseconds
// of each other.
func benchInterleaved(b *testing.B, goroutines int) {
	srvM, connsM := newSendServer(b)
	srvP, connsP := newSendServer(b)
	m, ids := newBenchManager(b, srvM, goroutines)
	c := newPlainClient(b)
	url := srvP.URL + wire.SendPath
	bodies := make([][]byte, goroutines)
	for i := range bodies {
		bodies[i] = plainBody(b, uuid.New(), benchEvent)
	}
	ctx := context.Background()
	interleave(b, goroutines,
		func(i int) error { return m.Send(ctx, ids[i], benchEvent) },
		func(i int) error { return plainPost(ctx, c, url, bodies[i], benchTimeout) })
	if n := connsM.Load() + connsP.Load(); n > 2*benchPoolSize {
		b.Errorf("servers accepted %d connections: keep-alive connections are not reused", n)
	}
}

// interleave runs managerSend(i) and plainSend(i) alternately, each first
// in every other pair, with
// goroutines goroutines each using its own i, and reports "ratio" (the
// plain side's time ÷ the manager's, a throughput ratio) and each side's
// mean duration per send. ns/op covers one send of each side.
func interleave(b *testing.B, goroutines int, managerSend, plainSend func(i int) error) {
	var managerNS, plainNS, sends, next atomic.Int64
	loop := func(more func() bool) {
		i := int(next.Add(1)-1) % goroutines
		var mNS, pNS, n int64
		timed := func(send func(int) error, ns *int64) bool {
			t0 := time.Now()
			err := send(i)
			*ns += int64(time.Since(t0))
			if err != nil {
				b.Error(err)
			}
			return err == nil
		}
		for more() {
			// Each side goes first every other pair: a send right after
			// the other side's may pay for the server's work that
			// follows its answer (writing the event to the stream).
			if n%2 == 0 {
				if !timed(managerSend, &mNS) || !timed(plainSend, &pNS) {
					return
				}
			} else if !timed(plainSend, &pNS) || !timed(managerSend, &mNS) {
				return
			}
			n++
		}
		managerNS.Add(mNS)
		plainNS.Add(pNS)
		sends.Add(n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if goroutines == 1 {
		loop(b.Loop)
	} else {
		b.SetParallelism(goroutines / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) { loop(pb.Next) })
	}
	b.StopTimer()
	if n := sends.Load(); n > 0 && managerNS.Load() > 0 {
		b.ReportMetric(float64(plainNS.Load())/float64(managerNS.Load()), "ratio")
		b.ReportMetric(float64(managerNS.Load())/float64(n), "manager-ns/send")
		b.ReportMetric(float64(plainNS.Load())/float64(n), "plain-timeout-ns/send")
	}
}

// BenchmarkSendInterleaved alternates a manager send and a plain-timeout
// send in one loop, sequentially ("seq", one goroutine) and with 8
// goroutines ("par8", 8 ÷ GOMAXPROCS per processor).
func BenchmarkSendInterleaved(b *testing.B) {
	b.Run("seq", func(b *testing.B) { benchInterleaved(b, 1) })
	b.Run("par8", func(b *testing.B) { benchInterleaved(b, 8) })
}
