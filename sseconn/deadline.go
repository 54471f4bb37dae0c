package sseconn

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// sharedDeadlines bounds sends by the send timeout without a timer per
// send. Sends whose caller's context can never be canceled (no Done
// channel: context.Background, TODO, WithValue and WithoutCancel chains of
// them, the common case of a background worker) share one deadline context
// per tick: a send that starts at t gets the bucket whose deadline lies in
// [t+timeout, t+timeout+tick). Each bucket is a context.WithDeadline of its
// own, so net/http and go-retryablehttp see an ordinary context, and its
// one timer releases it when it fires. A send is then bounded by the
// timeout plus at most one tick (timeout/64, at most 4 ms), instead of
// paying for a context, a timer and a map of children of its own.
type sharedDeadlines struct {
	timeout time.Duration
	tick    time.Duration // 0: every send gets its own timer
	cur     atomic.Pointer[deadlineBucket]
	mu      sync.Mutex // serialises the making of buckets
}

// deadlineBucket is one shared deadline.
type deadlineBucket struct {
	ctx      context.Context
	cancel   context.CancelFunc // never called: the deadline releases the bucket
	deadline time.Time
}

// maxDeadlineTick bounds how much longer than the send timeout a send may
// run.
const maxDeadlineTick = 4 * time.Millisecond

// minDeadlineTick is the smallest tick worth sharing a timer for.
const minDeadlineTick = 100 * time.Microsecond

func newSharedDeadlines(timeout time.Duration) *sharedDeadlines {
	tick := min(timeout/64, maxDeadlineTick)
	if tick < minDeadlineTick {
		tick = 0
	}
	return &sharedDeadlines{timeout: timeout, tick: tick}
}

// bound returns ctx bounded by the send timeout for a send that started at
// start (a time.Now reading, with its monotonic clock). The cancel function
// must be called once the send is done.
func (s *sharedDeadlines) bound(ctx context.Context, start time.Time) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && d.Sub(start) <= s.timeout {
		return ctx, noCancel // the caller's deadline is sooner: no timer needed
	}
	if s.tick == 0 || ctx.Done() != nil {
		return context.WithTimeout(ctx, s.timeout)
	}
	b := s.bucket(start.Add(s.timeout))
	if ctx == context.Background() {
		return b.ctx, noCancel
	}
	return valuesCtx{Context: b.ctx, values: ctx}, noCancel
}

// bucket returns a bucket whose deadline lies in [want, want+tick).
func (s *sharedDeadlines) bucket(want time.Time) *deadlineBucket {
	if b := s.cur.Load(); b != nil && b.fits(want, s.tick) {
		return b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.cur.Load(); b != nil && b.fits(want, s.tick) {
		return b
	}
	// The bucket's deadline is as late as a send that starts now may have,
	// so that later sends can share it for the whole tick.
	b := &deadlineBucket{deadline: want.Add(s.tick - 1)}
	b.ctx, b.cancel = context.WithDeadline(context.Background(), b.deadline)
	s.cur.Store(b)
	return b
}

// fits reports whether the bucket's deadline lies in [want, want+tick).
func (b *deadlineBucket) fits(want time.Time, tick time.Duration) bool {
	d := b.deadline.Sub(want)
	return d >= 0 && d < tick
}

// noCancel is the cancel function of a context that needs none.
func noCancel() {}

// valuesCtx is a bucket's deadline and cancellation with the values of the
// caller's context, which has no cancellation of its own. The bucket holds
// no values: its Value answers only the context package's own key, by
// which a child context finds the bucket to register with.
type valuesCtx struct {
	context.Context // the bucket
	values          context.Context
}

// Value returns the bucket's value for key, if any, else the caller's.
func (c valuesCtx) Value(key any) any {
	if v := c.Context.Value(key); v != nil {
		return v
	}
	return c.values.Value(key)
}
