package sseconn

import (
	"fmt"
	"strings"
	"testing"
)

// largeJSON returns a JSON document of about n bytes shaped like a real
// payload: an array of objects with short keys, numbers and sentences.
func largeJSON(n int) string {
	var b strings.Builder
	b.WriteString(`{"rows":[`)
	for i := 0; b.Len() < n-120; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d","text":"The quick brown fox jumps over the lazy dog, again and again.","ok":true}`, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// BenchmarkScanLarge measures the two per-byte passes of a send of a large
// named event: validation (validJSON) and encoding (appendString), in
// bytes per second.
func BenchmarkScanLarge(b *testing.B) {
	for _, n := range []int{10 << 10, 90 << 10} {
		data := largeJSON(n)
		if !validJSON(data) {
			b.Fatal("largeJSON is not valid JSON")
		}
		b.Run(fmt.Sprintf("validJSON/%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				validJSON(data)
			}
		})
		buf := make([]byte, 0, 2*len(data))
		b.Run(fmt.Sprintf("appendString/%dKiB", n>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				buf = appendString(buf[:0], data)
			}
		})
	}
}
