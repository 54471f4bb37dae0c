package ident

import (
	"strings"
	"testing"
)

func TestKind(t *testing.T) {
	tests := []struct{ identifier, want string }{
		{"task:42", "task"},
		{"version:abc", "version"},
		{"task:a:b", "task"},
		{"task:", "task"},
		{"plain", Unknown},
		{":x", Unknown},
		{"", Unknown},
	}
	for _, tt := range tests {
		if got := Kind(tt.identifier); got != tt.want {
			t.Errorf("Kind(%q) = %q, want %q", tt.identifier, got, tt.want)
		}
	}
}

func TestCheckRequestID(t *testing.T) {
	tests := []struct {
		rid, want string // want: the error's text, "" for valid
	}{
		{"tab-1", ""},
		{strings.Repeat("a", MaxRequestIDLen), ""},
		{"", "empty"},
		{strings.Repeat("a", MaxRequestIDLen+1), "longer than 256 bytes"},
		{"a:b", "contains ':'"},
		{"a\nb", "contains a control character"},
		{"a\x7fb", "contains a control character"},
	}
	for _, tt := range tests {
		got := ""
		if err := CheckRequestID(tt.rid); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckRequestID(%q) = %q, want %q", tt.rid, got, tt.want)
		}
	}
}
