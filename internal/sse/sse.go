// Package sse reads Server-Sent Events streams the way a browser's
// EventSource does. gatewaytest's browser streams and the examples' terminal
// client both read events with it.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// DefaultMaxLine is a bound for one line, and for the data of one event,
// far above anything a gateway writes for a body within its limit.
const DefaultMaxLine = 16 << 20

// ErrTooLong is returned by [Parser.Next] for a line or an event's data
// above the parser's bound.
var ErrTooLong = errors.New("SSE line or event too long")

// utf8BOM is stripped once at the start of a stream, as a browser does.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Event is one dispatched event. Name is the "event:" field as sent, ""
// when there is none (where a browser would say "message"); Data is the
// data lines joined with "\n".
type Event struct {
	Name string
	Data string
}

// A Parser reads events from an event stream the way a browser's
// EventSource does (WHATWG HTML, "Server-sent events", event stream
// interpretation):
//
//   - lines end with CRLF, LF or CR; a CR at the end of one read and an LF at
//     the start of the next are one line ending;
//   - a leading UTF-8 byte order mark is ignored;
//   - a line that starts with ':' is a comment and is ignored;
//   - "field: value" (one space after the colon removed), "field:value", and
//     a bare "field" (empty value) are fields; "event" sets the name, "data"
//     appends a line to the data, "id", "retry" and unknown fields are
//     ignored;
//   - a blank line dispatches the event, unless no data line was seen, in
//     which case the pending name is discarded;
//   - an event that is not terminated by a blank line when the stream ends
//     is discarded.
//
// Unlike a browser it does not decode UTF-8 (bytes are kept as they are)
// and it keeps the name as sent. A Parser is used by one goroutine at a
// time.
type Parser struct {
	r       *bufio.Reader
	line    []byte
	data    []byte // data lines so far, each followed by '\n'
	name    string
	skipLF  bool // the previous line ended with CR: ignore one LF
	started bool // the first line (and any BOM) has been read
	max     int  // bound of a line and of an event's data
}

// NewParser returns a parser of the stream r that fails with [ErrTooLong]
// on a line, or an event's data, longer than maxLine bytes. A maxLine of
// zero or less means [DefaultMaxLine].
func NewParser(r io.Reader, maxLine int) *Parser {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Parser{r: bufio.NewReaderSize(r, 4096), max: maxLine}
}

// Next returns the next dispatched event. At the end of the stream it
// returns io.EOF, and any pending, unterminated event is discarded. Other
// read errors are returned as they are.
func (p *Parser) Next() (Event, error) {
	for {
		line, err := p.readLine()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if len(p.data) == 0 {
				p.name = ""
				continue
			}
			ev := Event{Name: p.name, Data: string(p.data[:len(p.data)-1])}
			p.data = p.data[:0]
			p.name = ""
			return ev, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "event":
			p.name = string(value)
		case "data":
			if len(p.data)+len(value)+1 > p.max {
				return Event{}, ErrTooLong
			}
			p.data = append(p.data, value...)
			p.data = append(p.data, '\n')
		}
	}
}

// readLine returns the next line without its terminator. The returned slice
// is valid until the next call. A final line without a terminator is not a
// line: readLine then returns the read error (io.EOF at a clean end).
func (p *Parser) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		if p.skipLF {
			b, err := p.r.ReadByte()
			if err != nil {
				return nil, err
			}
			p.skipLF = false
			if b != '\n' {
				_ = p.r.UnreadByte()
			}
		}
		if p.r.Buffered() == 0 {
			if _, err := p.r.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := p.r.Peek(p.r.Buffered())
		i := bytes.IndexAny(buf, "\r\n")
		if i < 0 {
			i = len(buf)
		}
		if len(p.line)+i > p.max {
			return nil, ErrTooLong
		}
		p.line = append(p.line, buf[:i]...)
		if i == len(buf) {
			_, _ = p.r.Discard(i)
			continue
		}
		p.skipLF = buf[i] == '\r'
		_, _ = p.r.Discard(i + 1)
		return p.firstLine(p.line), nil
	}
}

// firstLine strips a byte order mark from the stream's first line.
func (p *Parser) firstLine(line []byte) []byte {
	if p.started {
		return line
	}
	p.started = true
	return bytes.TrimPrefix(line, utf8BOM)
}
