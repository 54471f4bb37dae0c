// Package conntest is the module's one in-memory fake of *sseconn.Manager,
// for the tests of the packages that send through one (task, version). It
// keeps the manager's semantics: Register replaces an identifier's token,
// refuses a token in use under another identifier and ignores a repeat;
// Unregister removes a mapping only if it is still the live one (compare
// and delete by token); a send validates the event, fails with
// sseconn.ErrNotConnected without a mapping, and a close leaves the
// mapping to the disconnect callback's Unregister; Broadcast calls its filter without a lock held and returns
// results sorted by identifier.
package conntest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/sseconn"
)

// WaitTimeout bounds every wait of [Conn.WaitFor]. It is generous because
// tests run with -race on busy machines; a passing test never waits that
// long.
const WaitTimeout = 10 * time.Second

// Sent is one event the fake accepted.
type Sent struct {
	Token string
	Event sseconn.Event
	Close bool
}

// record is a Sent with the identifier it was sent to.
type record struct {
	identifier string
	Sent
}

// Hook runs at the start of every send, outside the fake's lock. It may
// block; a non-nil error is the send's result and nothing is recorded.
type Hook func(ctx context.Context, identifier string, ev sseconn.Event) error

// Conn is the fake. Its methods are safe for concurrent use.
type Conn struct {
	// ResolveLate makes a send look the identifier's token up after the
	// hook instead of before: a send in flight during a Register then lands
	// on the new token, the worst case of a real manager. Set it before
	// the Conn is used.
	ResolveLate bool

	mu          sync.Mutex // guards the fields below
	hook        Hook
	registerErr error
	fwd         map[string]string // identifier -> token
	rev         map[string]string // token -> identifier
	sent        []record
	registered  []string      // tokens Register mapped, in order
	calls       []string      // tokens Unregister was called with, in order
	changed     chan struct{} // closed and replaced on every change
}

// New returns an empty fake.
func New() *Conn {
	return &Conn{fwd: map[string]string{}, rev: map[string]string{}, changed: make(chan struct{})}
}

func (c *Conn) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// SetHook sets the hook of every later send; nil removes it.
func (c *Conn) SetHook(h Hook) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hook = h
}

// SetRegisterErr makes Register fail with err; nil restores it.
func (c *Conn) SetRegisterErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.registerErr = err
}

// Register maps identifier to token, as [sseconn.Manager.Register] does.
func (c *Conn) Register(_ context.Context, identifier, token string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.registerErr != nil:
		return c.registerErr
	case identifier == "" || token == "":
		return sseconn.ErrInvalidIdentifier
	}
	if id, ok := c.rev[token]; ok {
		if id == identifier {
			return nil
		}
		return sseconn.ErrTokenInUse
	}
	if old, ok := c.fwd[identifier]; ok {
		delete(c.rev, old)
	}
	c.fwd[identifier] = token
	c.rev[token] = identifier
	c.registered = append(c.registered, token)
	c.notifyLocked()
	return nil
}

// Unregister removes token's mapping if it is still its identifier's live
// one, and reports whether it was, as [sseconn.Manager.Unregister] does.
func (c *Conn) Unregister(token string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, token)
	c.notifyLocked()
	id, ok := c.rev[token]
	if !ok {
		return false
	}
	delete(c.rev, token)
	live := c.fwd[id] == token
	if live {
		delete(c.fwd, id)
	}
	return live
}

// Send records ev for identifier's token.
func (c *Conn) Send(ctx context.Context, identifier string, ev sseconn.Event) error {
	return c.send(ctx, identifier, ev, false)
}

// SendAndClose records ev with a close. Like the manager, it leaves the
// mapping in place: the gateway's disconnect callback removes it.
func (c *Conn) SendAndClose(ctx context.Context, identifier string, ev sseconn.Event) error {
	return c.send(ctx, identifier, ev, true)
}

func (c *Conn) send(ctx context.Context, identifier string, ev sseconn.Event, closeAfter bool) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	c.mu.Lock()
	token, ok := c.fwd[identifier]
	hook := c.hook
	c.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, identifier, ev); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ResolveLate {
		token, ok = c.fwd[identifier]
	}
	if !ok {
		return fmt.Errorf("conntest: send to %s: %w", identifier, sseconn.ErrNotConnected)
	}
	c.sent = append(c.sent, record{identifier, Sent{Token: token, Event: ev, Close: closeAfter}})
	c.notifyLocked()
	return nil
}

// Broadcast sends ev to every registered identifier that filter selects
// (nil selects all), as [sseconn.Manager.Broadcast] does, one at a time.
func (c *Conn) Broadcast(ctx context.Context, filter func(identifier string) bool, ev sseconn.Event) []sseconn.Result {
	ids := c.Identifiers()
	if filter != nil {
		ids = slices.DeleteFunc(ids, func(id string) bool { return !filter(id) })
	}
	out := make([]sseconn.Result, 0, len(ids))
	for _, id := range ids {
		out = append(out, sseconn.Result{Identifier: id, Err: c.Send(ctx, id, ev)})
	}
	return out
}

// Registered returns the tokens Register mapped, in order.
func (c *Conn) Registered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.registered)
}

// Unregistered returns the tokens Unregister was called with, in order.
func (c *Conn) Unregistered() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// Identifiers returns the registered identifiers, sorted.
func (c *Conn) Identifiers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := make([]string, 0, len(c.fwd))
	for id := range c.fwd {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Token returns the token registered for identifier.
func (c *Conn) Token(identifier string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.fwd[identifier]
	return t, ok
}

// ToToken returns what was sent to token, in order.
func (c *Conn) ToToken(token string) []Sent {
	return c.filter(func(r record) bool { return r.Token == token })
}

// ToIdentifier returns what was sent to identifier, whatever its token,
// in order.
func (c *Conn) ToIdentifier(identifier string) []Sent {
	return c.filter(func(r record) bool { return r.identifier == identifier })
}

func (c *Conn) filter(keep func(record) bool) []Sent {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Sent
	for _, r := range c.sent {
		if keep(r) {
			out = append(out, r.Sent)
		}
	}
	return out
}

// WaitFor waits until cond is true, re-checking it on every change of the
// fake; it fails the test after [WaitTimeout]. cond is called without the
// fake's lock and may call its methods.
func (c *Conn) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ch := c.changed
		c.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// WaitCount waits until token got at least n events, and returns them.
func (c *Conn) WaitCount(t testing.TB, token string, n int) []Sent {
	t.Helper()
	c.WaitFor(t, fmt.Sprintf("%d events on %s", n, token), func() bool { return len(c.ToToken(token)) >= n })
	return c.ToToken(token)
}

// WaitClosed waits until token got an event sent with close, and returns
// what token got.
func (c *Conn) WaitClosed(t testing.TB, token string) []Sent {
	t.Helper()
	c.WaitFor(t, "close on "+token, func() bool {
		evs := c.ToToken(token)
		return len(evs) > 0 && evs[len(evs)-1].Close
	})
	return c.ToToken(token)
}
