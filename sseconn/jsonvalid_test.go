package sseconn

import (
	"encoding/json"
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
