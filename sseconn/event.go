package sseconn

import (
	"fmt"
	"strings"
	"unicode/utf8"
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

// Validate reports whether the gateway can deliver ev intact: whether a
// browser's EventSource, reading what either gateway generation frames (see
// docs/protocol.md, "What the browser receives"), gets back exactly Name and
// Data (for a generation-2 envelope: Name as the type, and a payload equal
// to Data as JSON). It returns an error wrapping [ErrInvalidEvent], naming
// the problem, for
//
//   - a name or data that is not valid UTF-8 (it would reach the gateway
//     with U+FFFD in place of the invalid bytes);
//   - a name with a character that needs escaping in an SSE field line or a
//     JSON string: any control character (U+0000–U+001F, U+007F–U+009F,
//     tab included), '"', '\', U+2028 or U+2029. Generation 1 writes the
//     name on an "event:" line, where CR and LF end it; generation 2 puts
//     it into the JSON envelope {"type":"<name>",…}. A name from this set
//     is the same byte string in both, whatever escaping a gateway does;
//   - the reserved names "ready" and "rejected" (the gateway's control
//     events);
//   - data with a CR anywhere. Both generations split data into "data:"
//     lines on LF only, and EventSource also ends a line at CR, so a lone CR
//     cuts the line (the rest is read as an unknown field and dropped) and
//     CRLF arrives as LF;
//   - a named event whose data is not valid JSON, or holds an LF:
//     generation 2 embeds it raw, on one "data:" line, as the envelope's
//     payload. JSON never needs a raw LF (json.Marshal writes none; use it
//     rather than json.MarshalIndent).
//
// Everything else is delivered intact, empty data and data with NUL or
// other controls included. Every send, and the AMQP publisher, validates
// its event before any I/O.
func (ev Event) Validate() error {
	if err := checkName(ev.Name); err != nil {
		return err
	}
	if reservedNames[ev.Name] {
		return fmt.Errorf("%w: name %q is reserved for the gateway's control events", ErrInvalidEvent, ev.Name)
	}
	if !utf8.ValidString(ev.Data) {
		return fmt.Errorf("%w: data is not valid UTF-8", ErrInvalidEvent)
	}
	if i := strings.IndexByte(ev.Data, '\r'); i >= 0 {
		return fmt.Errorf("%w: data contains CR at byte %d (the browser reads it as a line end)", ErrInvalidEvent, i)
	}
	if ev.Name == "" {
		return nil
	}
	if !validJSON(ev.Data) {
		return fmt.Errorf("%w: data of named event %q is not valid JSON", ErrInvalidEvent, ev.Name)
	}
	if i := strings.IndexByte(ev.Data, '\n'); i >= 0 {
		return fmt.Errorf("%w: data of named event %q contains LF at byte %d (generation 2 writes it on one line)", ErrInvalidEvent, ev.Name, i)
	}
	return nil
}

// checkName returns an error wrapping ErrInvalidEvent for a name that
// Validate rejects for its characters.
func checkName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: name %q is not valid UTF-8", ErrInvalidEvent, name)
	}
	for i, r := range name {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == '"' || r == '\\' || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w: name %q contains %U at byte %d", ErrInvalidEvent, name, r, i)
		}
	}
	return nil
}

// encodeSend returns the /internal/send body for token; ev may be nil. It
// writes what encoding/json would for a wire.SendRequest (less the HTML
// escaping, which JSON does not need), without reflection: this is the send
// path's hot spot. FuzzEncodeSend holds it to encoding/json.
func encodeSend(token tokenRef, ev *Event, close bool) []byte {
	n := len(`{"token":""}`) + token.textLen() + eventPartLen(ev, close)
	b := make([]byte, 0, n)
	b = appendTokenPart(b, token)
	return appendEventPart(b, ev, close)
}

// encodeEvent returns the part of the /internal/send body after the token
// (from `,"event"` to the closing brace), so that a broadcast encodes its
// event once: encodeSendEncoded(token, encodeEvent(ev, close)) equals
// encodeSend(token, ev, close).
func encodeEvent(ev *Event, close bool) []byte {
	return appendEventPart(make([]byte, 0, eventPartLen(ev, close)), ev, close)
}

// encodeSendEncoded returns the /internal/send body for token and the
// event part made by encodeEvent.
func encodeSendEncoded(token tokenRef, part []byte) []byte {
	b := make([]byte, 0, len(`{"token":""`)+token.textLen()+len(part))
	b = appendTokenPart(b, token)
	return append(b, part...)
}

// encodedLen estimates the length of the body appendSend makes.
func encodedLen(token tokenRef, ev *Event, encoded []byte, close bool) int {
	n := len(`{"token":""`) + token.textLen()
	if encoded != nil {
		return n + len(encoded)
	}
	return n + eventPartLen(ev, close)
}

// appendSend appends the /internal/send body for token: from the event
// part made by encodeEvent when encoded is not nil, else from ev and close.
func appendSend(b []byte, token tokenRef, ev *Event, encoded []byte, close bool) []byte {
	b = appendTokenPart(b, token)
	if encoded != nil {
		return append(b, encoded...)
	}
	return appendEventPart(b, ev, close)
}

// eventPartLen estimates the length of the event part of a body.
func eventPartLen(ev *Event, close bool) int {
	n := 1
	if ev != nil {
		n += len(`,"event":{"name":"","data":""}`) + len(ev.Name) + len(ev.Data) + len(ev.Data)/8
	}
	if close {
		n += len(`,"close":true`)
	}
	return n
}

// textLen returns the length of the token's text, before escaping.
func (t tokenRef) textLen() int {
	if t.compact {
		return uuidLen
	}
	return len(t.s)
}

// appendTokenPart appends `{"token":"<token>"`.
func appendTokenPart(b []byte, token tokenRef) []byte {
	b = append(b, `{"token":`...)
	if token.compact {
		b = append(b, '"')
		b = token.u.appendText(b)
		return append(b, '"')
	}
	return appendString(b, token.s)
}

// appendEventPart appends the event part of a body: the event, if any, the
// close flag, if set, and the closing brace.
func appendEventPart(b []byte, ev *Event, close bool) []byte {
	if ev != nil {
		b = append(b, `,"event":{`...)
		if ev.Name != "" {
			b = append(b, `"name":`...)
			b = appendString(b, ev.Name)
			b = append(b, ',')
		}
		b = append(b, `"data":`...)
		b = appendString(b, ev.Data)
		b = append(b, '}')
	}
	if close {
		b = append(b, `,"close":true`...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and U+2029 are
// escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Whole words of plain ASCII are copied later, as part of the run
		// from start; skipPlainWords stops at the first byte to look at.
		if i = skipPlainWords(s, i); i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
