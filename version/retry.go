package version

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/ssegate/ssegate/sseconn"
)

// Connect retries. A connect whose sends all failed (the gateway slow or
// briefly down) leaves its browser with nothing: no pending event and no
// current version. Rather than wait for the next Notify, Broadcast or
// connect, the Notifier tries again in the background while that stream is
// the request id's latest: after connectRetryDelay, then twice and four
// times as long. A retry sends what is pending, or else the current
// version, asked afresh from the Source. It stops as soon as anything has
// reached the stream, a newer connect took over, or the stream is gone.
const (
	connectRetryDelay = time.Second
	connectRetries    = 3
)

// retryIfMissedLocked schedules retry number attempt (from 0) for the
// stream that connect generation gen of e registered, if the drain that
// ended with failed sent it nothing. Called with n.mu held.
func (n *Notifier) retryIfMissedLocked(e *entry, gen uint64, failed error, attempt int) {
	if failed == nil || attempt >= connectRetries || e.gen != gen || e.sentGen >= gen ||
		errors.Is(failed, sseconn.ErrNotConnected) || errors.Is(failed, sseconn.ErrGone) ||
		errors.Is(failed, sseconn.ErrShutdown) {
		return
	}
	// The entry, and so its gen, stays until the retry has run; its events
	// may still be evicted or expire meanwhile, as for any idle entry.
	e.retries++
	time.AfterFunc(n.retryDelay<<attempt, func() { n.retryConnect(e, gen, attempt) })
}

// retryConnect is retry number attempt for connect generation gen of e.
func (n *Notifier) retryConnect(e *entry, gen uint64, attempt int) {
	ctx := context.Background()
	n.lock()
	defer n.unlock(ctx)
	e.retries--
	switch {
	case e.gen != gen || e.sentGen >= gen:
		// A newer connect took over, or something reached the stream.
		n.maybeDeleteLocked(e)
		return
	case e.draining:
		// A Notify or Broadcast is sending: look again later.
		n.retryIfMissedLocked(e, gen, errFlushInProgress, attempt+1)
		n.maybeDeleteLocked(e)
		return
	}
	e.draining = true
	if len(e.q) == 0 {
		n.unlock(ctx)
		ev, _ := n.currentEvent(ctx, ctx, e.rid)
		n.lock()
		e.q = slices.Insert(e.q, 0, &pending{ev: ev, at: n.cfg.now(), snapshot: true})
	}
	err := n.drainLocked(ctx, e)
	n.log.LogAttrs(ctx, slog.LevelDebug, "version: retried a connect that had sent nothing",
		slog.String("request_id", e.rid), slog.Int("attempt", attempt+1), slog.Bool("ok", err == nil))
	n.retryIfMissedLocked(e, gen, err, attempt+1)
}

// errFlushInProgress stands for a retry that found another flush running.
var errFlushInProgress = errors.New("version: a flush is in progress")
