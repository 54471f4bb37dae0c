package task

import (
	"context"
	"sync"
)

// group tracks goroutines, like sync.WaitGroup, but may be waited on while
// goroutines are still being added, with a deadline, and refuses new
// goroutines once stopped.
type group struct {
	mu      sync.Mutex // guards n, zero and stopped
	n       int
	zero    chan struct{} // closed when n drops to 0; nil if nobody waits
	stopped bool
}

// goFunc runs f in a new goroutine and reports whether it did: false once
// stop was called.
func (g *group) goFunc(f func()) bool {
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return false
	}
	g.n++
	g.mu.Unlock()
	go func() {
		defer g.done()
		f()
	}()
	return true
}

func (g *group) done() {
	g.mu.Lock()
	g.n--
	if g.n == 0 && g.zero != nil {
		close(g.zero)
		g.zero = nil
	}
	g.mu.Unlock()
}

// stop makes goFunc refuse new goroutines.
func (g *group) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// wait waits until no goroutine of g runs, or ctx is done.
func (g *group) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.n == 0 {
			g.mu.Unlock()
			return nil
		}
		if g.zero == nil {
			g.zero = make(chan struct{})
		}
		zero := g.zero
		g.mu.Unlock()
		select {
		case <-zero:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
