package sseconn

import (
	"context"
	"slices"
	"strings"
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
func (m *Manager) Broadcast(ctx context.Context, filter func(identifier string) bool, ev Event) []Result {
	ids := m.Identifiers(filter)
	slices.Sort(ids)
	results := make([]Result, len(ids))
	m.parallel(len(ids), func(i int) {
		results[i] = Result{Identifier: ids[i], Err: m.Send(ctx, ids[i], ev)}
	})
	return results
}

// compareResults orders results by identifier.
func compareResults(a, b Result) int { return strings.Compare(a.Identifier, b.Identifier) }
