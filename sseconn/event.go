package sseconn

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ssegate/ssegate/internal/wire"
)

// Event is one server-sent event.
//
// Name is the SSE event name; empty means an unnamed ("message") event. A
// generation-2 gateway wraps a named event in the envelope
// {"type":Name,"payload":Data} with Data embedded raw, so the Data of a named
// event must be valid JSON. Data of an unnamed event is any text; each of its
// lines becomes one data: line.
type Event struct {
	Name string
	Data string
}

// reservedNames are the gateway's control events. A backend event with such
// a name would be indistinguishable from them in the browser.
var reservedNames = map[string]bool{"ready": true, "rejected": true}

// Validate reports whether the gateway can deliver ev intact. It returns an
// error wrapping [ErrInvalidEvent] for a name with CR or LF (the gateway
// would frame it into broken SSE), for the reserved names "ready" and
// "rejected" (the gateway's control events), and for a named event whose
// Data is not valid JSON (a generation-2 gateway embeds it raw). Every send
// validates its event before any I/O.
func (ev Event) Validate() error {
	if strings.ContainsAny(ev.Name, "\r\n") {
		return fmt.Errorf("%w: name %q contains CR or LF", ErrInvalidEvent, ev.Name)
	}
	if reservedNames[ev.Name] {
		return fmt.Errorf("%w: name %q is reserved for the gateway's control events", ErrInvalidEvent, ev.Name)
	}
	if ev.Name != "" && !json.Valid([]byte(ev.Data)) {
		return fmt.Errorf("%w: data of named event %q is not valid JSON", ErrInvalidEvent, ev.Name)
	}
	return nil
}

// encodeSend returns the /internal/send body for token. ev may be nil.
func encodeSend(token string, ev *Event, close bool) ([]byte, error) {
	req := wire.SendRequest{Token: token, Close: close}
	if ev != nil {
		req.Event = &wire.Event{Name: ev.Name, Data: ev.Data}
	}
	return json.Marshal(req)
}
