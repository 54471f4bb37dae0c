package sseconn

import (
	"context"
	"sync"
)

// lanes serializes the sends to one identifier in the order they were
// called: a FIFO lock per identifier, created on first use and dropped when
// nobody holds or waits for it, so idle identifiers cost nothing.
type lanes struct {
	mu sync.Mutex // guards m and every lane's fields
	m  map[string]*lane
}

type lane struct {
	busy    bool
	refs    int             // holder plus waiters
	waiters []chan struct{} // FIFO; closed to hand the lane over
}

// acquire blocks until the caller owns the lane of identifier, in arrival
// order, or ctx is done.
func (l *lanes) acquire(ctx context.Context, identifier string) error {
	l.mu.Lock()
	if l.m == nil {
		l.m = make(map[string]*lane)
	}
	ln := l.m[identifier]
	if ln == nil {
		ln = &lane{}
		l.m[identifier] = ln
	}
	ln.refs++
	if !ln.busy {
		ln.busy = true
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	ln.waiters = append(ln.waiters, ch)
	l.mu.Unlock()

	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	for i, w := range ln.waiters {
		if w == ch {
			ln.waiters = append(ln.waiters[:i], ln.waiters[i+1:]...)
			ln.refs--
			l.mu.Unlock()
			return ctx.Err()
		}
	}
	l.mu.Unlock()
	// The lane was handed over while ctx expired: pass it on.
	l.release(identifier)
	return ctx.Err()
}

// release hands the lane of identifier to the next waiter, or frees it.
func (l *lanes) release(identifier string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := l.m[identifier]
	ln.refs--
	if len(ln.waiters) > 0 {
		next := ln.waiters[0]
		ln.waiters[0] = nil
		ln.waiters = ln.waiters[1:]
		close(next)
		return
	}
	ln.busy = false
	if ln.refs == 0 {
		delete(l.m, identifier)
	}
}
