package sseconn

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// validJSON reports whether s is one valid JSON value, with exactly the
// answer of encoding/json's Valid (FuzzValidJSON holds it to it), several
// times faster: Valid runs a byte-at-a-time state machine, and every named
// event is checked before it is sent.
func validJSON(s string) bool {
	i := skipSpace(s, 0)
	i, ok := value(s, i, 0)
	if !ok {
		return false
	}
	return skipSpace(s, i) == len(s)
}

// maxJSONDepth is encoding/json's limit on nesting.
const maxJSONDepth = 10000

func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value checks the value at s[i:] and returns the index after it.
func value(s string, i, depth int) (int, bool) {
	if i >= len(s) {
		return i, false
	}
	switch c := s[i]; {
	case c == '"':
		return str(s, i+1)
	case c == '{':
		if depth >= maxJSONDepth {
			return i, false
		}
		return object(s, i+1, depth+1)
	case c == '[':
		if depth >= maxJSONDepth {
			return i, false
		}
		return array(s, i+1, depth+1)
	case c == '-' || (c >= '0' && c <= '9'):
		return number(s, i)
	case c == 't':
		return literal(s, i, "true")
	case c == 'f':
		return literal(s, i, "false")
	case c == 'n':
		return literal(s, i, "null")
	}
	return i, false
}

func literal(s string, i int, lit string) (int, bool) {
	if len(s)-i >= len(lit) && s[i:i+len(lit)] == lit {
		return i + len(lit), true
	}
	return i, false
}

func object(s string, i, depth int) (int, bool) {
	i = skipSpace(s, i)
	if i < len(s) && s[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(s) || s[i] != '"' {
			return i, false
		}
		var ok bool
		if i, ok = str(s, i+1); !ok {
			return i, false
		}
		i = skipSpace(s, i)
		if i >= len(s) || s[i] != ':' {
			return i, false
		}
		i = skipSpace(s, i+1)
		if i, ok = value(s, i, depth); !ok {
			return i, false
		}
		i = skipSpace(s, i)
		if i >= len(s) {
			return i, false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func array(s string, i, depth int) (int, bool) {
	i = skipSpace(s, i)
	if i < len(s) && s[i] == ']' {
		return i + 1, true
	}
	for {
		var ok bool
		if i, ok = value(s, i, depth); !ok {
			return i, false
		}
		i = skipSpace(s, i)
		if i >= len(s) {
			return i, false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case ']':
			return i + 1, true
		default:
			return i, false
		}
	}
}

// str checks a string whose opening quote is before s[i]. Like
// encoding/json, it accepts any byte >= 0x20 but '"' and '\', invalid UTF-8
// included.
func str(s string, i int) (int, bool) {
	for i < len(s) {
		if i = skipStringWords(s, i); i >= len(s) {
			break
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i >= len(s) {
				return i, false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if len(s)-i < 5 {
					return i, false
				}
				for _, h := range []byte(s[i+1 : i+5]) {
					if unhexAny[h] > 0xf {
						return i, false
					}
				}
				i += 5
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++
		}
	}
	return i, false
}

func number(s string, i int) (int, bool) {
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i+1)
	default:
		return i, false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(s, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(s, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// unhexAny maps a hexadecimal digit of either case to its value and
// everything else to 0xff.
var unhexAny = func() (t [256]byte) {
	t = unhex
	for c := 'A'; c <= 'F'; c++ {
		t[c] = byte(c - 'A' + 10)
	}
	return t
}()

// skipStringWords returns the index of the first byte from i that ends,
// escapes or breaks a JSON string ('"', '\' or a control character), if
// it lies in a whole 8-byte word; otherwise the index at which fewer than 8
// bytes remain. It reads s through a byte view, which it never writes, so
// that each word is one load, and it stops exactly at the byte: a caller
// handles that byte and carries on with the next word, never retrying the
// bytes in between.
func skipStringWords(s string, i int) int {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for ; i+8 <= len(b); i += 8 {
		if m := stringMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
}

// skipPlainWords is skipStringWords for the bytes plainMask marks: those
// appendString cannot copy as they are, non-ASCII ones included.
func skipPlainWords(s string, i int) int {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for ; i+8 <= len(b); i += 8 {
		if m := plainMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// lessMask sets the high bit of the bytes of x below n (n <= 128), among
// bytes below 0x80. A flagged byte borrows from the one above it, which may
// be flagged too, so only the lowest flag is exact: the first byte below n.
// Bytes >= 0x80 are never flagged, nor do they borrow.
func lessMask(x uint64, n byte) uint64 { return (x - ones*uint64(n)) &^ x & highs }

// byteMask sets the high bit of the bytes of x equal to c; as with
// lessMask, only the lowest flag is exact.
func byteMask(x uint64, c byte) uint64 {
	y := x ^ (ones * uint64(c))
	return (y - ones) &^ y & highs
}

// stringMask flags the bytes of x that end, escape or break a JSON string:
// '"', '\' and control characters. It is zero if there is none, and its
// lowest flag is the first such byte.
func stringMask(x uint64) uint64 {
	return lessMask(x, 0x20) | byteMask(x, '"') | byteMask(x, '\\')
}

// plainMask is stringMask plus the bytes >= 0x80: it is zero if
// appendString can copy x as it is, plain ASCII with nothing to escape.
func plainMask(x uint64) uint64 {
	return stringMask(x) | x&highs
}
