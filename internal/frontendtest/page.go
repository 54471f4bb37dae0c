package frontendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrStillReconnecting is returned by [Page.Run] when the page connected
// MaxConnects times without closing its stream: it would go on
// reconnecting for as long as the tab stays open.
var ErrStillReconnecting = errors.New("frontendtest: page still reconnecting")

// DefaultMaxConnects is the number of connects after which [Page.Run] gives
// up when Page.MaxConnects is zero.
const DefaultMaxConnects = 10

// Page is the generation-1 page following one task (ElectronicsInventory
// UI, November 2025). Its fields are set before [Page.Run].
type Page struct {
	// Dial opens streams. Required.
	Dial Dialer
	// StreamURL is the task's stream URL, as Start answered it, for
	// example /api/sse/tasks?task_id=<id>.
	StreamURL string
	// Envelope makes the page read task_event messages from onmessage
	// envelopes {"type":"task_event","payload":…}, as it must on a
	// generation-2 gateway. By default it listens for the named event
	// task_event, as the real page does on a generation-1 gateway.
	Envelope bool
	// Delays are the page's and the browser's waits; see [Delays].
	Delays Delays
	// MaxConnects bounds the connects of [Page.Run]; zero means
	// DefaultMaxConnects.
	MaxConnects int
	// OnOpen, if set, is called on Run's goroutine each time a stream
	// opens (a 200 answer), with the number of that connect, from 1,
	// before any event of that stream is read.
	OnOpen func(connect int)
}

// View is what the page shows for its task.
type View struct {
	// Status is "" before any event, then "running", "completed" or
	// "failed".
	Status string
	// Text and Value are the latest progress_update.
	Text  string
	Value float64
	// Result is the data of task_completed.
	Result json.RawMessage
	// Error and Code are data.error and data.code of task_failed: the
	// message the page shows and the code it passes on.
	Error, Code string
}

// Outcome is what happened while [Page.Run] followed the task.
type Outcome struct {
	// View is what the page shows at the end.
	View View
	// Connects counts the page's connects, the first included.
	Connects int
	// Answers lists each connect's answer: "200", another status such as
	// "404", or "no answer".
	Answers []string
	// Seen lists the event_type of every task_event the page received, in
	// order, across connects, including the types it ignores.
	Seen []string
	// Waits lists the waits before each reconnect.
	Waits []time.Duration
	// Closed reports whether the page closed its EventSource itself, after
	// task_completed or task_failed. Only then does the page stop.
	Closed bool
}

// Run follows the task like the real page: it connects, shows what the
// task_event messages say, and closes its stream after task_completed or
// task_failed, and only then. When a stream ends first, it waits as the
// browser would and connects again: after an error status the page's own
// retry (Delays.PageRetry), after a stream that ended or a connect without
// an answer the EventSource's (Delays.BrowserRetry).
//
// Run returns when the page has closed its stream, with a nil error; with
// [ErrStillReconnecting] after MaxConnects connects; or with ctx.Err().
// The Outcome says what happened up to then.
func (p *Page) Run(ctx context.Context) (Outcome, error) {
	if p.Dial == nil {
		return Outcome{}, errors.New("frontendtest: Page.Dial is nil")
	}
	d := p.Delays.resolve()
	maxConnects := p.MaxConnects
	if maxConnects <= 0 {
		maxConnects = DefaultMaxConnects
	}
	var out Outcome
	for {
		out.Connects++
		status, st, err := p.Dial(ctx, p.StreamURL)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		out.Answers = append(out.Answers, answer(status, err))
		delay := d.BrowserRetry // the EventSource is CONNECTING: the browser reconnects
		switch {
		case err != nil:
		case st == nil:
			delay = d.PageRetry // CLOSED: the page's onerror reconnects
		default:
			if p.OnOpen != nil {
				p.OnOpen(out.Connects)
			}
			closed := p.read(ctx, st, &out)
			st.Close()
			if closed {
				out.Closed = true
				return out, nil
			}
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
		}
		if out.Connects == maxConnects {
			return out, fmt.Errorf("%w after %d connects (answers %q, events %q)",
				ErrStillReconnecting, out.Connects, out.Answers, out.Seen)
		}
		out.Waits = append(out.Waits, delay)
		if err := wait(ctx, delay); err != nil {
			return out, err
		}
	}
}

// read reads st until it ends or the page closes it, and reports whether
// the page closed it.
func (p *Page) read(ctx context.Context, st Stream, out *Outcome) bool {
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			return false
		}
		var data []byte
		switch {
		case p.Envelope:
			env, ok := envelope(ev)
			if !ok || env.Type != "task_event" {
				continue
			}
			data = env.Payload
		case ev.Name == "task_event":
			data = []byte(ev.Data)
		default:
			continue // no listener
		}
		m, ok := taskMessage(data)
		if !ok {
			continue
		}
		out.Seen = append(out.Seen, m.EventType)
		if show(&out.View, m) {
			return true
		}
	}
}

// show updates v with m as the page does, and reports whether the page
// closes its stream after it.
func show(v *View, m TaskMessage) bool {
	switch m.EventType {
	case "task_started":
		v.Status = "running"
	case "progress_update":
		var u struct {
			Text  string  `json:"text"`
			Value float64 `json:"value"`
		}
		if json.Unmarshal(m.Data, &u) == nil {
			v.Text, v.Value = u.Text, u.Value
		}
	case "task_completed":
		v.Status = "completed"
		v.Result = append(json.RawMessage(nil), m.Data...)
		return true
	case "task_failed":
		var f struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		_ = json.Unmarshal(m.Data, &f) // the page shows undefined: an empty message
		v.Status = "failed"
		v.Error, v.Code = f.Error, f.Code
		return true
	}
	return false
}
