package version

import (
	"fmt"
	"time"
)

// SetConnectWaitHook makes n call f whenever Connect starts waiting for a
// flush in progress. Tests only; call it before n is used.
func SetConnectWaitHook(n *Notifier, f func()) { n.waitHook = f }

// SetJoinHook makes s call f whenever a caller joins a fetch in flight.
// Tests only; call it before s is used.
func SetJoinHook(s *HTTPSource, f func()) { s.joinHook = f }

// CheckInvariants reports an inconsistency in n's pending state: counters
// that disagree with the queues, or an LRU list that does not hold exactly
// the entries of the map.
func CheckInvariants(n *Notifier) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	pending, reqs, listed := 0, 0, 0
	for e := n.lru.head; e != nil; e = e.next {
		listed++
		if n.entries[e.rid] != e {
			return fmt.Errorf("listed entry %q is not in the map", e.rid)
		}
		if e.next != nil && e.next.prev != e {
			return fmt.Errorf("broken list links at %q", e.rid)
		}
		count := 0
		for _, p := range e.q {
			if !p.snapshot {
				count++
			}
		}
		if count != e.n {
			return fmt.Errorf("entry %q counts %d events, holds %d", e.rid, e.n, count)
		}
		if !e.busy() && e.retries == 0 && len(e.q) == 0 {
			return fmt.Errorf("idle empty entry %q was not deleted", e.rid)
		}
		if e.n > n.cfg.pendingLimit+1 {
			return fmt.Errorf("entry %q holds %d events, limit %d", e.rid, e.n, n.cfg.pendingLimit)
		}
		pending += e.n
		if e.n > 0 {
			reqs++
		}
	}
	if listed != len(n.entries) {
		return fmt.Errorf("%d entries listed, %d in the map", listed, len(n.entries))
	}
	if pending != n.npending || reqs != n.nreqs {
		return fmt.Errorf("counters say %d events for %d ids, queues hold %d for %d", n.npending, n.nreqs, pending, reqs)
	}
	return nil
}

// SetConnectRetryDelay sets the wait before the first retry of a connect
// that sent its stream nothing. Tests only; call it before n is used.
func SetConnectRetryDelay(n *Notifier, d time.Duration) { n.retryDelay = d }
