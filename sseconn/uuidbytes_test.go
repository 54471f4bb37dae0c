package sseconn

import (
	"testing"

	"github.com/ssegate/ssegate/internal/uuid"
)

func TestParseUUID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f70", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
		{"0B6FB3A2-5C1E-4E6F-9A1B-2F3C4D5E6F70", false}, // would not round-trip
		{"0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f7", false},
		{"0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f700", false},
		{"0b6fb3a2x5c1e-4e6f-9a1b-2f3c4d5e6f70", false},
		{"0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6g70", false},
		{"{b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f7}", false},
		{"", false},
	}
	for _, tt := range tests {
		u, ok := parseUUID(tt.in)
		if ok != tt.ok {
			t.Errorf("parseUUID(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
		if ok && u.String() != tt.in {
			t.Errorf("parseUUID(%q).String() = %q", tt.in, u.String())
		}
	}
	for range 100 {
		s := uuid.New()
		if u, ok := parseUUID(s); !ok || u.String() != s {
			t.Fatalf("parseUUID(%q) = %q, %v", s, u.String(), ok)
		}
	}
}

func FuzzParseUUID(f *testing.F) {
	f.Add("0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f70")
	f.Add("0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f7g")
	f.Fuzz(func(t *testing.T, s string) {
		if u, ok := parseUUID(s); ok && u.String() != s {
			t.Fatalf("parseUUID(%q) accepted, but String() = %q", s, u.String())
		}
	})
}
