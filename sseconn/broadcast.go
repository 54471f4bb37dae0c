package sseconn

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Result is the outcome of the send to one identifier of a
// [Manager.Broadcast].
type Result struct {
	// Identifier is the identifier the event was sent to.
	Identifier string
	// Err is nil on success, or one of the errors of [Manager.Send].
	Err error
}

// Broadcast sends ev to every registered identifier that filter selects (nil
// selects all), running at most [WithBroadcastConcurrency] sends at once. It
// never stops at the first failure: it returns one Result per selected
// identifier, sorted by identifier. Each send keeps the per-identifier order
// of [Manager.Send]. An invalid or oversized ev fails every result without
// any I/O.
//
// The event is validated and encoded once, not once per identifier.
func (m *Manager) Broadcast(ctx context.Context, filter func(identifier string) bool, ev Event) []Result {
	ids := m.Identifiers(filter)
	slices.Sort(ids)
	results := make([]Result, len(ids))
	err := ev.Validate()
	if err == nil && len(ev.Name)+len(ev.Data) > m.cfg.maxBody {
		err = fmt.Errorf("%w: event of %d bytes, limit %d", ErrTooLarge, len(ev.Name)+len(ev.Data), m.cfg.maxBody)
	}
	if err != nil {
		for i, id := range ids {
			m.count(ctx, m.tel.kinds.get(Kind(id)), opSend, outcomeInvalid)
			results[i] = Result{Identifier: id, Err: err}
		}
		return results
	}
	part := encodeEvent(&ev, false)
	m.parallel(len(ids), func(i int) {
		kind := Kind(ids[i])
		err := m.sendValid(ctx, time.Now(), ids[i], kind, m.tel.kinds.get(kind), &ev, part, false, opSend)
		results[i] = Result{Identifier: ids[i], Err: err}
	})
	return results
}

// compareResults orders results by identifier.
func compareResults(a, b Result) int { return strings.Compare(a.Identifier, b.Identifier) }
