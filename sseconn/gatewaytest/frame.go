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
// frames unnamed events and the control events "ready" and "rejected" the
// same way, and wraps any other named event in an unnamed envelope
// {"type":<name>,"payload":<data>}, as the reference gateway does: the name
// as JavaScript's JSON.stringify writes it, the data embedded raw, so data
// that is not JSON gives the browser broken JSON.
func appendFrame(b []byte, gen int, ev Event) []byte {
	name, data := ev.Name, ev.Data
	if gen >= 2 && name != "" && name != eventReady && name != eventRejected {
		data = `{"type":` + jsonString(name) + `,"payload":` + data + `}`
		name = ""
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
