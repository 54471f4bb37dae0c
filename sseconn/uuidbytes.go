package sseconn

// uuidLen is the length of a UUID's canonical text.
const uuidLen = 36

// uuidBytes is a UUID held as its 16 bytes.
type uuidBytes [16]byte

// unhex maps a lower-case hexadecimal digit to its value and everything
// else to 0xff. Upper-case digits are refused: only the canonical text
// round-trips through uuidBytes.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// parseUUID parses the canonical text of a UUID, lower-case
// 8-4-4-4-12 hexadecimal digits, and reports whether s was one. Any other
// form is refused, so that u.String() == s whenever it succeeds.
func parseUUID(s string) (u uuidBytes, ok bool) {
	if len(s) != uuidLen || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < uuidLen; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, lo := unhex[s[i]], unhex[s[i+1]]
		if hi|lo > 0xf {
			return uuidBytes{}, false
		}
		u[j] = hi<<4 | lo
		j++
		i += 2
	}
	return u, true
}

// appendText appends the canonical text of u.
func (u uuidBytes) appendText(b []byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0xf])
	}
	return b
}

// String returns the canonical text of u.
func (u uuidBytes) String() string {
	var b [uuidLen]byte
	return string(u.appendText(b[:0]))
}
