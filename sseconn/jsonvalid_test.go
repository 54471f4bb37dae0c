package sseconn

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e5`, `1E+5`, `1e`, `.5`, `-1.5e-7`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `[1,]`, `[,1]`, `{"a":1,}`, `{"a" : [1, {"b":null}] }`,
	`{a:1}`, `{"a"}`, `{"a":}`, `"\u00e9"`, `"\u00G9"`, `"\ud800"`, `"\x"`, "\"\x01\"", "\"\x7f\"",
	"\"\xff\xfe\"", "\xef\xbb\xbf{}", ` {"progress":0.5,"message":"step 3 of 7"} `, `1 2`, `[1 2]`,
	`"abcdefghijklmnop\"qrstuvwxyz"`, `"abcdefghijklmnopqrstuvwxyz\\"`, "\t\n\r[\t1\n]\r",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidJSON(t *testing.T) {
	for _, s := range validJSONCases {
		if got, want := validJSON(s), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid says %v", s, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, s := range validJSONCases {
		if len(s) < 200 {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validJSON(s), json.Valid([]byte(s)); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", s, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	data := `{"progress":0.5,"message":"step 3 of 7"}`
	b.Run("validJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			validJSON(data)
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Valid([]byte(data))
		}
	})
}

// TestMasksFlagFirstSpecialByte checks the word scanners against a byte
// loop: stringMask and plainMask are zero exactly when no byte of the word
// is special, and their lowest flag is the first special byte, whatever
// follows it (a flagged byte's borrow may flag the bytes above it).
func TestMasksFlagFirstSpecialByte(t *testing.T) {
	interesting := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, '"', '#', '\\', ']', 'a', 0x7e, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xc3, 0xe2, 0xfe, 0xff}
	stringSpecial := func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }
	plainSpecial := func(c byte) bool { return stringSpecial(c) || c >= 0x80 }
	first := func(w [8]byte, special func(byte) bool) int {
		for i, c := range w {
			if special(c) {
				return i
			}
		}
		return 8
	}
	fromMask := func(m uint64) int {
		if m == 0 {
			return 8
		}
		return bits.TrailingZeros64(m) >> 3
	}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 1_000_000; n++ {
		var w [8]byte
		for i := range w {
			if r.IntN(4) == 0 {
				w[i] = byte(r.IntN(256))
			} else {
				w[i] = interesting[r.IntN(len(interesting))]
			}
		}
		x := binary.LittleEndian.Uint64(w[:])
		if got, want := fromMask(stringMask(x)), first(w, stringSpecial); got != want {
			t.Fatalf("stringMask(% x): first flagged byte %d, want %d", w, got, want)
		}
		if got, want := fromMask(plainMask(x)), first(w, plainSpecial); got != want {
			t.Fatalf("plainMask(% x): first flagged byte %d, want %d", w, got, want)
		}
	}
}
