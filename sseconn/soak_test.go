package sseconn_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/testenv"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// The soak runs only when SSEGATE_SOAK is set to its duration
// (SSEGATE_SOAK=30s, SSEGATE_SOAK=10m); see RELIABILITY.md. Its load can be
// set with SSEGATE_SOAK_STREAMS (default 2000, 500 under the race detector,
// whose goroutine limit a full soak exceeds) and SSEGATE_SOAK_RATE (events
// per second in all, default 1000).
func soakSettings(t *testing.T) (d time.Duration, streams, rate int) {
	t.Helper()
	return testenv.Soak(t, testenv.SoakDefaults{MinDuration: 5 * time.Second,
		Streams: 2000, RaceStreams: 500, RateVar: "SSEGATE_SOAK_RATE", Rate: 1000})
}

// Outcomes of one send, as the sender saw it.
const (
	sendOK        = iota // the gateway wrote it: it must arrive, once
	sendNotThere         // ErrNotConnected or ErrGone: nothing was written, it must not arrive
	sendAmbiguous        // any other error: it may arrive, at most once
)

// soakStream is one identifier: its sends, in order, and what its browser
// received over all its streams, in order.
type soakStream struct {
	id     string
	taskID string

	mu         sync.Mutex         // guards the fields below
	outcomes   []int8             // by sequence number - 1
	received   []int              // sequence numbers, in the order read
	streams    int                // streams opened
	cancelRead context.CancelFunc // makes the browser reconnect; nil while it cannot
}

// check returns what went wrong with s: lost, duplicated, reordered or
// unexpected events.
func (s *soakStream) check() (lost, dup, order, unexpected, ambiguousSeen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[int]bool, len(s.received))
	last := 0
	for _, n := range s.received {
		if seen[n] {
			dup++
			continue
		}
		seen[n] = true
		if n <= last {
			order++
		}
		last = max(last, n)
		if n < 1 || n > len(s.outcomes) {
			unexpected++
			continue
		}
		switch s.outcomes[n-1] {
		case sendNotThere:
			unexpected++
		case sendAmbiguous:
			ambiguousSeen++
		}
	}
	for i, o := range s.outcomes {
		if o == sendOK && !seen[i+1] {
			lost++
		}
	}
	return lost, dup, order, unexpected, ambiguousSeen
}

// soakHeap returns the live heap after a collection.
func soakHeap() uint64 {
	runtime.GC()
	runtime.GC() // a second time empties sync.Pool's victim caches
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSoak drives many streams through gatewaytest for SSEGATE_SOAK:
// sustained sends, random reconnects (a new stream replaces the old one,
// which is read to its end), and a gateway restart halfway that ends every
// stream and forgets every token without disconnect callbacks. Every
// stream's events are checked: each send the gateway accepted arrives
// exactly once and in order, and nothing refused arrives. Heap and
// goroutines must be back near their starting level at the end.
func TestSoak(t *testing.T) {
	d, nStreams, rate := soakSettings(t)
	goroutines0, heap0 := runtime.NumGoroutine(), soakHeap()

	be := &backend{}
	cbSrv := httptest.NewServer(be)
	gw := gatewaytest.NewServer(cbSrv.URL+"/api/sse/callback", gatewaytest.WithGeneration(2))
	mgr, err := sseconn.New(gw.URL)
	if err != nil {
		t.Fatal(err)
	}
	be.mgr = mgr

	streams := make([]*soakStream, nStreams)
	for i := range streams {
		streams[i] = &soakStream{id: fmt.Sprintf("task:soak-%d", i), taskID: fmt.Sprintf("soak-%d", i)}
	}
	var (
		stopping   atomic.Bool
		readers    sync.WaitGroup
		connectErr atomic.Int64
		reconnects atomic.Int64
		readErrs   = make(chan error, nStreams)
	)
	connect := func(s *soakStream) *gatewaytest.Stream {
		for !stopping.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			st, err := gw.Connect(ctx, "/api/sse/tasks?task_id="+s.taskID, nil)
			cancel()
			if err == nil && st.StatusCode == http.StatusOK {
				s.mu.Lock()
				s.streams++
				s.mu.Unlock()
				return st
			}
			if err == nil {
				st.Close()
			}
			connectErr.Add(1)
		}
		return nil
	}
	// drain reads st, recording what arrives, until it ends or, if
	// interruptible, the chaos asks for a reconnect.
	drain := func(s *soakStream, st *gatewaytest.Stream, interruptible bool) (ended bool, err error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if interruptible {
			s.mu.Lock()
			s.cancelRead = cancel
			s.mu.Unlock()
			defer func() {
				s.mu.Lock()
				s.cancelRead = nil
				s.mu.Unlock()
			}()
		}
		for {
			ev, err := st.Next(ctx)
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			if errors.Is(err, context.Canceled) {
				return false, nil
			}
			if err != nil {
				return true, fmt.Errorf("%s: %w", s.id, err)
			}
			if ev.Name == "ready" {
				continue
			}
			ev = ev.Unwrap()
			n, err := strconv.Atoi(ev.Data)
			if err != nil || ev.Name != "soak" {
				return true, fmt.Errorf("%s: unexpected event %+v", s.id, ev)
			}
			s.mu.Lock()
			s.received = append(s.received, n)
			s.mu.Unlock()
		}
	}
	for _, s := range streams {
		readers.Add(1)
		go func() {
			defer readers.Done()
			st := connect(s)
			for st != nil {
				ended, err := drain(s, st, true)
				if err != nil {
					readErrs <- err
					st.Close()
					return
				}
				if ended { // the gateway ended it (restart, shutdown)
					st.Close()
					st = connect(s)
					continue
				}
				// Replace: the new stream first; the manager then closes
				// the old one, which is read to its end.
				reconnects.Add(1)
				next := connect(s)
				if _, err := drain(s, st, false); err != nil {
					readErrs <- err
				}
				st.Close()
				st = next
			}
		}()
	}

	// Senders: each owns a share of the identifiers and sends to them in
	// turn, so that the sends to one identifier are sequential.
	nSenders := min(32, nStreams)
	var (
		senders              sync.WaitGroup
		sentOK, sentNotThere atomic.Int64
		sentAmbiguous        atomic.Int64
		sendCtx, stopSends   = context.WithCancel(context.Background())
	)
	interval := time.Duration(float64(time.Second) * float64(nSenders) / float64(rate))
	for w := range nSenders {
		senders.Add(1)
		go func() {
			defer senders.Done()
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := w; ; i += nSenders {
				if i >= nStreams {
					i = w // only this sender's share: one sender per identifier
				}
				select {
				case <-sendCtx.Done():
					return
				case <-tick.C:
				}
				s := streams[i]
				s.mu.Lock()
				n := len(s.outcomes) + 1
				s.mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := mgr.Send(ctx, s.id, sseconn.Event{Name: "soak", Data: strconv.Itoa(n)})
				cancel()
				o := int8(sendOK)
				switch {
				case err == nil:
					sentOK.Add(1)
				case errors.Is(err, sseconn.ErrNotConnected), errors.Is(err, sseconn.ErrGone):
					o = sendNotThere
					sentNotThere.Add(1)
				default:
					o = sendAmbiguous
					sentAmbiguous.Add(1)
				}
				s.mu.Lock()
				s.outcomes = append(s.outcomes, o)
				s.mu.Unlock()
			}
		}()
	}

	// Chaos: random reconnects all along, a gateway restart halfway.
	start := time.Now()
	end := start.Add(d)
	restartAt := start.Add(d / 2)
	midAt := start.Add(d * 4 / 10)
	restarted := false
	rng := rand.New(rand.NewPCG(1, 2))
	var heapMid, heapLate uint64
	var goroutinesMid int
	chaos := time.NewTicker(50 * time.Millisecond)
	for now := range chaos.C {
		if now.After(end) {
			break
		}
		s := streams[rng.IntN(nStreams)]
		s.mu.Lock()
		if s.cancelRead != nil {
			s.cancelRead() // the browser reconnects
		}
		s.mu.Unlock()
		if heapMid == 0 && now.After(midAt) {
			heapMid, goroutinesMid = soakHeap(), runtime.NumGoroutine()
		}
		if !restarted && now.After(restartAt) {
			gw.Restart()
			restarted = true
		}
		if heapLate == 0 && now.After(start.Add(d*9/10)) {
			heapLate = soakHeap()
		}
	}
	chaos.Stop()
	elapsed := time.Since(start)

	// Stop: no more sends, then the gateway ends every stream and the
	// browsers read theirs to the end.
	stopSends()
	senders.Wait()
	stopping.Store(true)
	gw.Close()
	readers.Wait()
	close(readErrs)
	for err := range readErrs {
		t.Error(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := mgr.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	cbSrv.Close()
	// Keep nothing of the gateway and the manager (the gateway's log of
	// every send included) for the heap figure after.
	gw, mgr, be.mgr, cbSrv = nil, nil, nil, nil

	var lost, dup, order, unexpected, ambiguousSeen, opened int
	for _, s := range streams {
		l, d, o, u, a := s.check()
		lost, dup, order, unexpected, ambiguousSeen = lost+l, dup+d, order+o, unexpected+u, ambiguousSeen+a
		opened += s.streams
	}
	// Let the goroutines of closed connections finish.
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > goroutines0+10 && time.Now().Before(deadline) {
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	goroutines1, heap1 := runtime.NumGoroutine(), soakHeap()

	t.Logf("soak: %d identifiers, %d streams opened (%d replaced by a reconnect, 1 gateway restart), %v",
		nStreams, opened, reconnects.Load(), elapsed.Round(time.Second))
	t.Logf("soak: sends accepted %d (%.0f/s), refused as not connected %d, ambiguous %d (of which received %d)",
		sentOK.Load(), float64(sentOK.Load())/elapsed.Seconds(), sentNotThere.Load(), sentAmbiguous.Load(), ambiguousSeen)
	t.Logf("soak: lost %d, duplicated %d, out of order %d, unexpected %d; connect retries %d",
		lost, dup, order, unexpected, connectErr.Load())
	t.Logf("soak: heap %d KiB before, %d KiB at 40%%, %d KiB at 90%%, %d KiB after; goroutines %d before, %d at 40%%, %d after",
		heap0>>10, heapMid>>10, heapLate>>10, heap1>>10, goroutines0, goroutinesMid, goroutines1)

	if lost+dup+order+unexpected > 0 {
		t.Errorf("soak: lost %d, duplicated %d, out of order %d, unexpected %d; want none", lost, dup, order, unexpected)
	}
	if sentOK.Load() == 0 || !restarted {
		t.Errorf("soak: %d sends accepted, restarted %v: the soak did not run", sentOK.Load(), restarted)
	}
	if goroutines1 > goroutines0+10 {
		t.Errorf("soak: %d goroutines after, %d before", goroutines1, goroutines0)
	}
	// The heap must not grow from 40% (before the restart) to 90% (well
	// after it): what the soak retains on purpose (the outcomes and
	// received logs) grows by a few bytes per event, and the restart's
	// reconnect storm leaves garbage, so allow half again and 16 MiB.
	if heapMid > 0 && heapLate > heapMid*3/2+16<<20 {
		t.Errorf("soak: heap grew from %d KiB at 40%% to %d KiB at 90%%", heapMid>>10, heapLate>>10)
	}
	// After the teardown only the soak's logs and the runtime's records
	// of finished goroutines (a few hundred bytes each, never freed) stay.
	if heap1 > heap0+uint64(sentOK.Load())*32+16<<20 {
		t.Errorf("soak: heap %d KiB after, %d KiB before", heap1>>10, heap0>>10)
	}
}
