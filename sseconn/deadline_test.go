package sseconn

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

type ctxKey struct{}

func TestSharedDeadlinesBound(t *testing.T) {
	const timeout = 2 * time.Second
	s := newSharedDeadlines(timeout)
	if s.tick != maxDeadlineTick {
		t.Fatalf("tick = %v for a 2 s timeout, want %v", s.tick, maxDeadlineTick)
	}
	start := time.Now()

	t.Run("background shares one deadline per tick", func(t *testing.T) {
		a, cancelA := s.bound(context.Background(), start)
		defer cancelA()
		b, cancelB := s.bound(context.Background(), start.Add(s.tick/2))
		defer cancelB()
		if a.Done() != b.Done() {
			t.Error("two sends half a tick apart got different deadline contexts, want one shared")
		}
		checkDeadline(t, a, start, timeout, timeout+s.tick)
		checkDeadline(t, b, start.Add(s.tick/2), timeout, timeout+s.tick)
		c, cancelC := s.bound(context.Background(), start.Add(2*s.tick))
		defer cancelC()
		if c.Done() == a.Done() {
			t.Error("a send two ticks later shares the earlier deadline, which would shorten its timeout")
		}
		checkDeadline(t, c, start.Add(2*s.tick), timeout, timeout+s.tick)
	})

	t.Run("values of a context without cancellation are kept", func(t *testing.T) {
		parent := context.WithValue(context.WithoutCancel(context.Background()), ctxKey{}, "v")
		ctx, cancel := s.bound(parent, start)
		defer cancel()
		if got := ctx.Value(ctxKey{}); got != "v" {
			t.Errorf("Value = %v, want the caller's value", got)
		}
		bg, cancelBG := s.bound(context.Background(), start)
		defer cancelBG()
		if ctx.Done() != bg.Done() {
			t.Error("a values-only context did not share the tick's deadline")
		}
		checkDeadline(t, ctx, start, timeout, timeout+s.tick)
	})

	t.Run("a cancelable context gets a timer of its own and stays cancelable", func(t *testing.T) {
		parent, cancelParent := context.WithCancel(context.Background())
		ctx, cancel := s.bound(parent, start)
		defer cancel()
		checkDeadline(t, ctx, time.Now(), timeout-time.Second, timeout)
		cancelParent()
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v after the caller canceled, want context.Canceled", ctx.Err())
		}
	})

	t.Run("a sooner caller deadline is used as it is", func(t *testing.T) {
		parent, cancelParent := context.WithTimeout(context.Background(), time.Second)
		defer cancelParent()
		ctx, cancel := s.bound(parent, start)
		defer cancel()
		if ctx != parent {
			t.Error("the caller's sooner deadline was wrapped, want it used as it is")
		}
	})
}

// checkDeadline fails unless ctx's deadline lies in [from+min, from+max].
func checkDeadline(t *testing.T, ctx context.Context, from time.Time, min, max time.Duration) {
	t.Helper()
	d, ok := ctx.Deadline()
	if !ok {
		t.Fatal("no deadline")
	}
	if got := d.Sub(from); got < min || got > max {
		t.Errorf("deadline %v after the send's start, want within [%v, %v]", got, min, max)
	}
}

// TestSharedDeadlineExpires checks that a shared deadline ends every send
// that holds it with context.DeadlineExceeded, in a child context too (as
// net/http makes one per request), and that children register with the
// bucket instead of each starting a goroutine to watch it.
func TestSharedDeadlineExpires(t *testing.T) {
	s := newSharedDeadlines(50 * time.Millisecond)
	if s.tick == 0 {
		t.Fatal("no shared ticks for a 50 ms timeout")
	}
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	ctx, cancel := s.bound(parent, time.Now())
	defer cancel()

	before := runtime.NumGoroutine()
	const n = 50
	children := make([]context.Context, n)
	cancels := make([]context.CancelCauseFunc, n)
	for i := range children {
		children[i], cancels[i] = context.WithCancelCause(ctx)
	}
	if grew := runtime.NumGoroutine() - before; grew >= n {
		t.Errorf("%d goroutines started for %d child contexts, want them registered with the bucket", grew, n)
	}
	for i, c := range children {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("child %d not done 5 s after a 50 ms deadline", i)
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(c), context.DeadlineExceeded) {
			t.Errorf("child %d: Err = %v, Cause = %v, want DeadlineExceeded", i, c.Err(), context.Cause(c))
		}
		cancels[i](nil)
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err = %v, want DeadlineExceeded", ctx.Err())
	}
	if got := ctx.Value(ctxKey{}); got != "v" {
		t.Errorf("Value after expiry = %v, want the caller's value", got)
	}
}

func TestSharedDeadlinesTinyTimeoutHasOwnTimers(t *testing.T) {
	s := newSharedDeadlines(time.Millisecond)
	if s.tick != 0 {
		t.Fatalf("tick = %v for a 1 ms timeout, want 0 (a timer per send)", s.tick)
	}
	start := time.Now()
	a, cancelA := s.bound(context.Background(), start)
	defer cancelA()
	b, cancelB := s.bound(context.Background(), start)
	defer cancelB()
	if a.Done() == b.Done() {
		t.Error("sends share a deadline with a 1 ms timeout, want one each")
	}
}
