package sseconn

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Sweep probes every registered token once with the gateway's empty no-op
// send, at most [WithBroadcastConcurrency] at once, and drops the mappings
// whose token the gateway answers 404 for (unless the identifier was
// re-registered meanwhile). It returns the identifiers it removed, sorted.
// Probes that fail otherwise (gateway down, say) remove nothing; their
// errors are joined into the returned error.
//
// The sweeper of [WithSweepInterval] calls Sweep periodically; calling it by
// hand is useful after a gateway restart.
func (m *Manager) Sweep(ctx context.Context) ([]string, error) {
	if !m.begin() {
		return nil, ErrShutdown
	}
	defer m.inflight.Done()
	pairs := m.pairs()

	results := make([]Result, len(pairs))
	m.parallel(len(pairs), func(i int) {
		id, tok := pairs[i].identifier, pairs[i].token
		if ctx.Err() != nil {
			results[i] = Result{Identifier: id, Err: ctx.Err()}
			return
		}
		_, err := m.postTimed(ctx, id, tok, nil, false, opProbe)
		if errors.Is(err, ErrGone) {
			if m.removeIf(ctx, id, tok, reasonSweep) {
				results[i] = Result{Identifier: id, Err: ErrGone}
			}
			return
		}
		results[i] = Result{Identifier: id, Err: err}
	})
	slices.SortFunc(results, compareResults)
	var removed []string
	var errs []error
	for _, r := range results {
		switch {
		case errors.Is(r.Err, ErrGone):
			removed = append(removed, r.Identifier)
		case r.Err != nil:
			errs = append(errs, r.Err)
		}
	}
	if len(removed) > 0 {
		m.log.InfoContext(ctx, "sseconn: sweep removed mappings of gone streams", "count", len(removed))
	}
	return removed, errors.Join(errs...)
}

// sweepLoop runs Sweep every cfg.sweepEvery until ctx is cancelled.
func (m *Manager) sweepLoop(ctx context.Context) {
	defer close(m.sweepDone)
	t := time.NewTicker(m.cfg.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "sseconn: sweep incomplete", "error", err)
		}
	}
}
