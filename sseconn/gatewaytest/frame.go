package gatewaytest

import "strings"

// Control event names of generation 2.
const (
	eventReady    = "ready"
	eventRejected = "rejected"
)

// Fixed frames.
const (
	frameReady     = "event: ready\ndata:\n\n"
	frameHeartbeat = ": heartbeat\n\n"
)

// appendFrame appends ev framed as a gateway of generation gen writes it
// (docs/protocol.md, "What the browser receives").
//
// Generation 1 writes "event: <name>" for a named event and one "data: "
// line per line of the data (split on LF), then a blank line. Generation 2
// frames unnamed events the same way. It writes the control event "ready"
// as the fixed frame "event: ready\ndata:\n\n", whatever the data, and
// "rejected" as "event: rejected" with its data raw on one "data: " line.
// It wraps any other named event in an unnamed envelope
// {"type":<name>,"payload":<data>}, written raw on one "data: " line, as
// the reference gateway does: the name as JavaScript's JSON.stringify
// writes it, the data embedded raw, so data that is not JSON gives the
// browser broken JSON, and an LF in the data ends the line (the browser
// reads the rest as an unknown field and drops it).
func appendFrame(b []byte, gen int, ev Event) []byte {
	name, data := ev.Name, ev.Data
	if gen >= 2 && name != "" {
		switch name {
		case eventReady:
			return append(b, frameReady...)
		case eventRejected:
			b = append(b, "event: "+eventRejected+"\ndata: "...)
			b = append(b, data...)
		default:
			b = append(b, `data: {"type":`...)
			b = append(b, jsonString(name)...)
			b = append(b, `,"payload":`...)
			b = append(b, data...)
			b = append(b, '}')
		}
		return append(b, "\n\n"...)
	}
	if name != "" {
		b = append(b, "event: "...)
		b = append(b, name...)
		b = append(b, '\n')
	}
	for {
		line, rest, more := strings.Cut(data, "\n")
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(b, '\n')
}

// jsonString quotes s as JavaScript's JSON.stringify does: '"' and '\\'
// escaped, \b \f \n \r \t short, other control characters below U+0020 as
// \u00XX, and everything else, U+2028 and U+2029 included, as it is.
func jsonString(s string) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}
