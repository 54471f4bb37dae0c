package task

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/ssegate/ssegate/callback"
)

var _ callback.Service = (*Runner)(nil)

// Matcher returns the matcher of the runner's stream URLs, to mount the
// runner with callback.WithRoute(r.Matcher(), r). By default it is
// callback.Query("task", "/api/sse/tasks", "task_id"); see [WithStreamURL].
func (r *Runner) Matcher() callback.Matcher { return r.cfg.matcher }

// taskID returns the id in identifier "<kind>:<id>", and reports whether the
// identifier has the runner's kind.
func (r *Runner) taskID(identifier string) (string, bool) {
	kind, id, ok := strings.Cut(identifier, ":")
	return id, ok && kind == r.cfg.kind && id != ""
}

// Connect handles the connect callback of a browser that opens a task's
// stream: it registers the stream's token with the Conn under the task's
// identifier and replays the task's events to it before returning (the
// gateway buffers them until the stream opens). The replay is the compacted
// log: task_started, the latest progress_update, then, for a finished task,
// its terminal event and connection_close, which ends the stream. Later
// events follow live.
//
// A new stream for a task replaces the previous one (the Conn closes the
// old token), and Connect first waits for an in-flight send to the old
// stream, so the new stream never sees an event twice or out of order.
//
// For an unknown or expired task, Connect registers the stream, sends a
// task_event of type [TypeFailed] with data
// {"error":"task not found","code":"TASK_NOT_FOUND"} and then
// connection_close with reason [ReasonNotFound] and close, and succeeds, so
// that the browser learns why its stream ends and stops there, whether it
// closes on task_failed or on connection_close (see "Clients" in the
// package documentation).
//
// It returns an error when the Conn refuses the registration, when ctx ends
// before the replay is sent, when the not-found events cannot be sent (the
// stream is then unregistered), and a 409 [callback.Rejection] when a newer
// stream for the same task connected while this one waited. Other send
// failures during the replay are not errors: the stream opens, and delivery
// resumes as described in the package documentation.
func (r *Runner) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	id, ok := r.taskID(req.Identifier)
	var t *task
	if ok {
		t = r.lookup(id)
	}
	if t != nil && t.aud != nil {
		t = nil // its events go to its tabs only
		if r.bus != nil {
			return nil, r.connectUnknown(ctx, req, id)
		}
	}
	if t == nil {
		if ok && r.bus != nil {
			return nil, r.connectRemote(ctx, req, id)
		}
		return nil, r.connectUnknown(ctx, req, id)
	}
	return nil, r.attach(ctx, t, id, req)
}

// attach makes req's stream the one that t's events go to, and replays t's
// log to it.
func (r *Runner) attach(ctx context.Context, t *task, id string, req *callback.Request) error {
	t.mu.Lock()
	t.gen++
	gen := t.gen
	t.token, t.registered, t.cursor, t.stalled, t.failures = req.Token, false, 0, false, 0
	for t.sending { // the sender of an older stream stops after its current send
		idle := t.idleLocked()
		t.mu.Unlock()
		if r.hookWait != nil {
			r.hookWait()
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("task: connect to task %s: wait for the previous stream: %w", id, ctx.Err())
		}
		t.mu.Lock()
		if t.gen != gen {
			t.mu.Unlock()
			return callback.Reject(http.StatusConflict, "a newer stream for this task connected")
		}
	}
	t.sending = true
	t.mu.Unlock()

	if err := r.conn.Register(ctx, t.identifier, req.Token); err != nil {
		t.mu.Lock()
		t.releaseLocked()
		t.mu.Unlock()
		return fmt.Errorf("task: connect to task %s: register stream: %w", id, err)
	}
	t.mu.Lock()
	if t.gen == gen {
		t.registered = true
	}
	t.mu.Unlock()
	if err := r.deliver(ctx, t, gen); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("task: connect to task %s: replay: %w", id, ctx.Err())
		}
		r.log.Warn("task: replay failed", "task_id", id, "error", err)
	}
	return nil
}

// connectUnknown registers the stream of an unknown task and tells it so.
func (r *Runner) connectUnknown(ctx context.Context, req *callback.Request, id string) error {
	if err := r.conn.Register(ctx, req.Identifier, req.Token); err != nil {
		return fmt.Errorf("task: connect to unknown task %q: register stream: %w", id, err)
	}
	now := r.cfg.now()
	err := r.send(ctx, req.Identifier, entry{ev: newEvent(TypeFailed, id, now, failureData("task not found", CodeNotFound))})
	if err == nil {
		err = r.send(ctx, req.Identifier, entry{
			ev:    newEvent(TypeClose, id, now, reasonData(ReasonNotFound)),
			close: true,
		})
	}
	if err != nil {
		r.conn.Unregister(req.Token)
		return fmt.Errorf("task: connect to unknown task %q: send not found: %w", id, err)
	}
	r.log.Debug("task: stream for unknown task", "task_id", id)
	return nil
}

// Disconnect handles the disconnect callback of a task's stream: it
// unregisters the token from the Conn (which ignores a token that was
// already replaced) and stops delivery to it. Events keep accumulating in
// the task's compacted log for the next connect. It always returns nil.
func (r *Runner) Disconnect(ctx context.Context, req *callback.Request) error {
	r.conn.Unregister(req.Token)
	id, ok := r.taskID(req.Identifier)
	if !ok {
		return nil
	}
	r.mu.Lock()
	t := r.tasks[id]
	if t == nil {
		t = r.followers[id]
	}
	r.mu.Unlock()
	if t == nil {
		return nil
	}
	t.mu.Lock()
	if t.token == req.Token {
		t.registered = false
		t.stalled = false
	}
	t.mu.Unlock()
	return nil
}
