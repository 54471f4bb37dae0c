package sseconn

// lanes serializes the sends to one identifier in the order they were
// called: a FIFO lock per identifier, created on first use and dropped when
// nobody holds or waits for it, so idle identifiers cost nothing. The
// manager's mutex guards it: a send takes its lane in the same critical
// section that registers it with Shutdown and looks the token up.
type lanes struct {
	m    map[string]*lane
	free []*lane // dropped lanes, reused so that a send allocates none
}

type lane struct {
	busy    bool
	refs    int             // holder plus waiters
	waiters []chan struct{} // FIFO; closed to hand the lane over
}

// maxFreeLanes caps the dropped lanes kept for reuse.
const maxFreeLanes = 64

// acquire takes the lane of identifier if it is free and returns nil.
// Otherwise it queues the caller and returns the channel that is closed
// when the lane is handed over to it.
func (l *lanes) acquire(identifier string) chan struct{} {
	if l.m == nil {
		l.m = make(map[string]*lane)
	}
	ln := l.m[identifier]
	if ln == nil {
		if n := len(l.free); n > 0 {
			ln = l.free[n-1]
			l.free = l.free[:n-1]
		} else {
			ln = &lane{}
		}
		l.m[identifier] = ln
	}
	ln.refs++
	if !ln.busy {
		ln.busy = true
		return nil
	}
	ch := make(chan struct{})
	ln.waiters = append(ln.waiters, ch)
	return ch
}

// abandon removes the waiter ch of identifier, whose context ended, and
// reports whether it was still waiting. If it was not, the lane has been
// handed over to it and the caller must release it.
func (l *lanes) abandon(identifier string, ch chan struct{}) bool {
	ln := l.m[identifier]
	for i, w := range ln.waiters {
		if w == ch {
			ln.waiters = append(ln.waiters[:i], ln.waiters[i+1:]...)
			ln.refs--
			return true
		}
	}
	return false
}

// release hands the lane of identifier to the next waiter, or frees it.
func (l *lanes) release(identifier string) {
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
		if len(l.free) < maxFreeLanes {
			ln.waiters = ln.waiters[:0]
			l.free = append(l.free, ln)
		}
	}
}
