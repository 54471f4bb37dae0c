package ident

import "testing"

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
