package task

import (
	"context"
	"errors"
	"fmt"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/tab"
)

// Tabs is where a [Runner] sends the events of a task started [For] an
// audience of tabs: one stream per browser tab instead of one per task.
// *tab.Hub implements it. Send queues ev for the audience's tabs, in call
// order, and fails with an error wrapping tab.ErrDropped for an event it
// could not keep (already counted and logged), tab.ErrClosed once it is
// closed, or another error that may pass (the runner retries).
type Tabs interface {
	Send(ctx context.Context, aud tab.Audience, ev sseconn.Event) error
}

// ErrNoTabs is returned by [Runner.Start] for a [For] option on a runner
// made without [WithTabs].
var ErrNoTabs = errors.New("task: For needs a runner made WithTabs")

// WithTabs lets [Runner.Start] send a task's events to browser tabs, one
// stream per tab, with the option [For]. Tasks started without For still
// use their own stream (task:<id>). Nil means no tabs.
func WithTabs(t Tabs) Option { return optionFunc(func(c *config) { c.tabs = t }) }

// A StartOption configures one [Runner.Start].
type StartOption interface {
	applyStart(*startConfig)
}

type startConfig struct {
	aud *tab.Audience
}

type startOptionFunc func(*startConfig)

func (f startOptionFunc) applyStart(c *startConfig) { f(c) }

// For sends the task's events to the tabs of aud, through the [Tabs] of
// [WithTabs], instead of to a stream of its own: tab.To(requestID,
// subject) for the tab that started it, tab.ToSubject(subject) for every
// tab of its user, tab.Broadcast() for every tab.
//
// The tab stream is not a task's stream: the task's events (task_started,
// progress_update, and its terminal event, each with its task_id for the
// page to filter by) are sent to it, but connection_close is not, and the
// stream stays open when the task ends. Info.StreamURL is empty, and a
// stream opened on the task route for such a task is told it is not found
// (task_failed with code [CodeNotFound]): its events reach the audience only.
func For(aud tab.Audience) StartOption {
	return startOptionFunc(func(c *startConfig) { c.aud = &aud })
}

// sendEntry sends one entry of t's log, bounded by the send timeout, to
// t's stream or, for a task started For tabs, to its tabs.
func (r *Runner) sendEntry(ctx context.Context, t *task, e entry) error {
	if t.aud == nil {
		return r.send(ctx, t.identifier, e)
	}
	if e.close {
		return nil // a tab stream outlives its tasks
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.sendTimeout)
	defer cancel()
	err := r.cfg.tabs.Send(ctx, *t.aud, e.ev)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, tab.ErrDropped):
		return nil // counted and logged by Tabs: retrying cannot help
	case errors.Is(err, tab.ErrClosed):
		return fmt.Errorf("%w: %w", sseconn.ErrShutdown, err)
	case errors.Is(err, tab.ErrInvalidAudience):
		return fmt.Errorf("%w: %w", sseconn.ErrInvalidEvent, err)
	}
	return err
}
