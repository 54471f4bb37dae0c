package version

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ssegate/ssegate/sseconn"
)

// entry is the pending state of one request id. It exists while the id has
// pending events, while a goroutine is sending them (draining), or while a
// connect for the id is in progress (refs > 0). All fields are guarded by
// Notifier.mu.
//
// The hand-off between "kept pending" and "sent" is atomic: events are only
// ever sent by the single drainer of the entry, in queue order, and an event
// is enqueued and a drainer claimed in one critical section, so an event
// that arrives while another goroutine drains is sent by that goroutine or
// left pending by it in order, never stranded or reordered.
type entry struct {
	rid   string // request id
	ident string // "version:<rid>"

	q        []*pending    // oldest first; q[0] is being sent while inflight
	n        int           // events in q that are not snapshots
	inflight bool          // q[0] is being sent; it is never dropped meanwhile
	draining bool          // a goroutine owns sending q
	kick     bool          // a connect gave up waiting for the drainer: retry once after a failed send
	idle     chan struct{} // closed when draining ends; made by a connect that waits for it

	refs      int           // connects in progress for rid; they keep the entry
	retries   int           // connect retries scheduled (retry.go); they keep the entry, not its events
	gen       uint64        // incremented by each connect once it has registered
	sentGen   uint64        // gen when the latest successful send started
	delivered uint64        // successful sends
	lastEv    sseconn.Event // the latest event delivered

	last       time.Time // when the latest event was enqueued
	prev, next *entry    // neighbours in Notifier.lru
	listed     bool      // e is in Notifier.entries and Notifier.lru

	qbuf [1]*pending // q's first backing array: most queues hold one event
}

// lruList is an intrusive doubly linked list of entries, least recently
// notified first. The zero value is an empty list.
type lruList struct {
	head, tail *entry
}

func (l *lruList) pushBack(e *entry) {
	e.prev, e.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
}

func (l *lruList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (l *lruList) moveToBack(e *entry) {
	if l.tail == e {
		return
	}
	l.remove(e)
	l.pushBack(e)
}

// busy reports whether e must be neither dropped nor deleted.
func (e *entry) busy() bool { return e.draining || e.refs > 0 }

// pending is one event kept for a request id. Its fields are guarded by
// Notifier.mu.
type pending struct {
	ev       sseconn.Event
	at       time.Time // when it was enqueued, for the TTL
	snapshot bool      // the current version sent on connect; never kept

	resolved bool
	status   Status
	err      error
	waiter   chan struct{} // closed on the first resolve, if a caller waits
}

// resolve records the outcome of p and wakes a caller waiting for it. An
// event left Pending may be resolved again later when it is delivered.
func (p *pending) resolve(st Status, err error) {
	p.resolved, p.status, p.err = true, st, err
	if p.waiter != nil {
		close(p.waiter)
		p.waiter = nil
	}
}

// dropRecord is one drop to count and log once the lock is released.
type dropRecord struct {
	rid    string
	reason string
	n      int
	err    error
}

// lock acquires n.mu.
func (n *Notifier) lock() { n.mu.Lock() }

// unlock releases n.mu and then records, with ctx, the pending-count changes
// and the drops made while it was held, so that no recording or logging
// happens under the lock.
func (n *Notifier) unlock(ctx context.Context) {
	drops, delta := n.drops, n.pdelta
	n.drops, n.pdelta = nil, 0
	n.mu.Unlock()
	if delta != 0 {
		n.ins.pending.Add(ctx, delta)
	}
	if len(drops) == 0 {
		return
	}
	logging := n.log.Enabled(ctx, slog.LevelWarn)
	for _, d := range drops {
		n.ins.drop(ctx, d.reason, d.n)
		if !logging {
			continue
		}
		attrs := []slog.Attr{
			slog.String("request_id", d.rid),
			slog.String("reason", d.reason),
			slog.Int("events", d.n),
		}
		if d.err != nil {
			attrs = append(attrs, slog.String("error", d.err.Error()))
		}
		n.log.LogAttrs(ctx, slog.LevelWarn, "version: pending events dropped", attrs...)
	}
}

// entryLocked returns the entry of rid, creating it.
func (n *Notifier) entryLocked(rid string, now time.Time) *entry {
	if e := n.entries[rid]; e != nil {
		return e
	}
	e := &entry{rid: rid, ident: n.prefix + rid, last: now, listed: true}
	e.q = e.qbuf[:0]
	n.lru.pushBack(e)
	n.entries[rid] = e
	return e
}

// maybeDeleteLocked deletes e once it is idle and empty, with no connect
// retry scheduled.
func (n *Notifier) maybeDeleteLocked(e *entry) {
	if e.busy() || e.retries > 0 || len(e.q) > 0 || !e.listed {
		return
	}
	n.lru.remove(e)
	e.listed = false
	delete(n.entries, e.rid)
}

// pushLocked appends an event to e's queue and enforces the per-request
// limit by dropping the oldest events that are not being sent.
func (n *Notifier) pushLocked(e *entry, ev sseconn.Event, now time.Time) *pending {
	p := &pending{ev: ev, at: now}
	e.q = append(e.q, p)
	n.countLocked(e, p, +1)
	e.last = now
	if e.listed {
		n.lru.moveToBack(e)
	}
	for e.n > n.cfg.pendingLimit {
		victim := n.oldestDroppableLocked(e)
		if victim == nil || victim == p {
			break
		}
		n.dropLocked(e, victim, dropLimit, nil)
	}
	return p
}

// oldestDroppableLocked returns the oldest event of e that counts against
// the limit and is not in flight, or nil.
func (n *Notifier) oldestDroppableLocked(e *entry) *pending {
	for i, p := range e.q {
		if (i == 0 && e.inflight) || p.snapshot {
			continue
		}
		return p
	}
	return nil
}

// countLocked keeps the pending counters in step with a change of e.q.
func (n *Notifier) countLocked(e *entry, p *pending, delta int) {
	if p.snapshot {
		return
	}
	before := e.n
	e.n += delta
	n.npending += delta
	switch {
	case before == 0 && e.n > 0:
		n.nreqs++
	case before > 0 && e.n == 0:
		n.nreqs--
	}
	n.pdelta += int64(delta)
}

// removeLocked removes p from e's queue, if it is there.
func (n *Notifier) removeLocked(e *entry, p *pending) {
	for i, x := range e.q {
		if x != p {
			continue
		}
		copy(e.q[i:], e.q[i+1:])
		e.q[len(e.q)-1] = nil
		e.q = e.q[:len(e.q)-1]
		n.countLocked(e, p, -1)
		return
	}
}

// dropErrors are the Delivery errors of dropped events, by reason.
var dropErrors = map[string]error{
	dropLimit:   fmt.Errorf("%w: %s", ErrDropped, dropLimit),
	dropExpired: fmt.Errorf("%w: %s", ErrDropped, dropExpired),
	dropEvicted: fmt.Errorf("%w: %s", ErrDropped, dropEvicted),
}

// dropError returns the Delivery error of an event dropped for reason.
func dropError(reason string, cause error) error {
	if err, ok := dropErrors[reason]; ok && cause == nil {
		return err
	}
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrDropped, reason)
	}
	return fmt.Errorf("%w: %s: %w", ErrDropped, reason, cause)
}

// recordDropLocked records a drop, to be counted and logged once the lock
// is released.
func (n *Notifier) recordDropLocked(rid, reason string, count int, cause error) {
	n.drops = append(n.drops, dropRecord{rid: rid, reason: reason, n: count, err: cause})
}

// dropLocked removes p and resolves it as dropped for reason.
func (n *Notifier) dropLocked(e *entry, p *pending, reason string, cause error) {
	n.removeLocked(e, p)
	p.resolve(Dropped, dropError(reason, cause))
	n.recordDropLocked(e.rid, reason, 1, cause)
}

// dropAllLocked drops every event of an idle entry and deletes it.
func (n *Notifier) dropAllLocked(e *entry, reason string) {
	count := e.n
	err := dropError(reason, nil)
	for _, p := range e.q {
		n.countLocked(e, p, -1)
		p.resolve(Dropped, err)
	}
	clear(e.q)
	e.q = e.q[:0]
	if count > 0 {
		n.recordDropLocked(e.rid, reason, count, nil)
	}
	n.maybeDeleteLocked(e)
}

// pruneLocked drops e's expired events, except one in flight.
func (n *Notifier) pruneLocked(e *entry, now time.Time) {
	for i := 0; i < len(e.q); {
		p := e.q[i]
		if (i == 0 && e.inflight) || p.snapshot || now.Before(p.at.Add(n.cfg.pendingTTL)) {
			i++
			continue
		}
		n.dropLocked(e, p, dropExpired, nil)
	}
}

// expireLocked removes the request ids whose every event has expired. The
// LRU list is ordered by the time of each id's latest event, so only
// expired ids (and the few busy ones among them) are visited: the cost is
// amortized O(1) per call.
func (n *Notifier) expireLocked(now time.Time) {
	for e := n.lru.head; e != nil; {
		if now.Before(e.last.Add(n.cfg.pendingTTL)) {
			return
		}
		cur := e
		e = e.next
		if !cur.busy() {
			n.dropAllLocked(cur, dropExpired)
		}
	}
}

// enforceLocked drops the pending events of the least recently notified
// idle request ids while more ids than allowed have pending events. keep is
// never evicted. Busy ids are skipped, so the bound can be exceeded by the
// number of flushes in progress.
func (n *Notifier) enforceLocked(keep *entry) {
	for e := n.lru.head; e != nil && n.nreqs > n.cfg.maxPendingRequests; {
		cur := e
		e = e.next
		if cur == keep || cur.busy() || cur.n == 0 {
			continue
		}
		n.dropAllLocked(cur, dropEvicted)
	}
}

// settleLocked returns the outcome of p, an event of e: if no goroutine is
// draining e it drains e itself, otherwise it waits (bounded by ctx) for the
// drainer to deliver p or leave it pending. Called and returns with n.mu
// held.
func (n *Notifier) settleLocked(ctx context.Context, e *entry, p *pending) Delivery {
	if !p.resolved {
		if !e.draining {
			e.draining = true
			n.drainLocked(ctx, e)
		} else {
			p.waiter = make(chan struct{})
			w := p.waiter
			n.unlock(ctx)
			select {
			case <-w:
			case <-ctx.Done():
			}
			n.lock()
			if !p.resolved {
				return Delivery{RequestID: e.rid, Status: Pending, Err: ctx.Err()}
			}
		}
	}
	return Delivery{RequestID: e.rid, Status: p.status, Err: p.err}
}

// drainLocked sends e's events in order until the queue is empty or a send
// fails; a failed event and everything after it stay pending, in order. The
// caller has claimed e (e.draining); drainLocked releases it. It returns the
// error of the send that stopped it, or nil. Called and returns with n.mu
// held; the lock is released during each send.
func (n *Notifier) drainLocked(ctx context.Context, e *entry) (failed error) {
	for {
		n.pruneLocked(e, n.cfg.now())
		if len(e.q) == 0 {
			break
		}
		p := e.q[0]
		e.inflight = true
		gen := e.gen
		n.unlock(ctx)

		sctx, cancel := context.WithTimeout(ctx, n.cfg.sendTimeout)
		err := n.conn.Send(sctx, e.ident, p.ev)
		cancel()

		n.lock()
		e.inflight = false
		if err == nil {
			e.sentGen = max(e.sentGen, gen)
			e.delivered++
			e.lastEv = p.ev
			n.removeLocked(e, p)
			p.resolve(Delivered, nil)
			continue
		}
		if errors.Is(err, sseconn.ErrInvalidEvent) || errors.Is(err, sseconn.ErrTooLarge) {
			// It can never be sent; keeping it would block the queue.
			n.dropLocked(e, p, dropInvalid, err)
			continue
		}
		if e.kick {
			// A browser connected while this send was failing.
			e.kick = false
			continue
		}
		if p.snapshot {
			// The current version is fetched afresh on the next connect.
			n.removeLocked(e, p)
		}
		for _, x := range e.q {
			x.resolve(Pending, err)
		}
		failed = err
		break
	}
	e.draining = false
	if e.idle != nil {
		close(e.idle)
		e.idle = nil
	}
	if e.n > 0 {
		n.enforceLocked(e)
	}
	n.maybeDeleteLocked(e)
	return failed
}
