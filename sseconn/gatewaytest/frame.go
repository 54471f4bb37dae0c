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
// (PROTOCOL.md section 4).
//
// Generation 1 writes "event: <name>" for a named event and one "data: "
// line per line of the data (split on LF), then a blank line. Generation 2
// frames unnamed events and the control events "ready" and "rejected" the
// same way, and wraps any other named event in an unnamed envelope
// {"type":"<name>","payload":<data>}, with name and data embedded raw, as the
// reference gateway does: data that is not JSON gives the browser broken
// JSON.
func appendFrame(b []byte, gen int, ev Event) []byte {
	name, data := ev.Name, ev.Data
	if gen >= 2 && name != "" && name != eventReady && name != eventRejected {
		data = `{"type":"` + name + `","payload":` + data + `}`
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
