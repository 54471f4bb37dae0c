package sseconn

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMappingsForms registers identifiers and tokens of every form, binary
// and string, and checks that lookups in both directions, replacement and
// removal treat them alike.
func TestMappingsForms(t *testing.T) {
	const (
		u1 = "0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f70"
		u2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
		u3 = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
		u4 = "9b2d8c55-1f7e-4a3b-8c6d-5e4f3a2b1c0d"
	)
	s := newMappings()
	puts := [][2]string{
		{"task:" + u1, u2},      // both binary
		{"task:" + u2, "tok-a"}, // binary identifier, string token
		{"version:42", u3},      // string identifier, UUID token
		{"doc:x", "tok-b"},      // both strings
		{"TASK:" + u4, u4},      // another kind, binary
		{"task:" + "7C9E6679-7425-40DE-944B-E07FC1F90AE7", "tok-c"}, // upper case: strings
	}
	for _, p := range puts {
		if _, replaced := s.put(p[0], p[1]); replaced {
			t.Fatalf("put(%q) replaced something", p[0])
		}
	}
	if got := s.len(); got != len(puts) {
		t.Fatalf("len() = %d, want %d", got, len(puts))
	}
	if len(s.fwdC) != 2 {
		t.Errorf("%d binary mappings, want 2", len(s.fwdC))
	}
	for _, p := range puts {
		if tok, ok := s.get(p[0]); !ok || tok.String() != p[1] {
			t.Errorf("get(%q) = %q, %v; want %q", p[0], tok.String(), ok, p[1])
		}
		if id, ok := s.owner(p[1]); !ok || id != p[0] {
			t.Errorf("owner(%q) = %q, %v; want %q", p[1], id, ok, p[0])
		}
	}
	fwd, rev := map[string]string{}, map[string]string{}
	s.each(func(id string, tok tokenRef) { fwd[id] = tok.String() })
	s.eachToken(func(tok, id string) { rev[tok] = id })
	want := map[string]string{}
	wantRev := map[string]string{}
	for _, p := range puts {
		want[p[0]] = p[1]
		wantRev[p[1]] = p[0]
	}
	if diff := cmp.Diff(want, fwd); diff != "" {
		t.Errorf("each (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantRev, rev); diff != "" {
		t.Errorf("eachToken (-want +got):\n%s", diff)
	}

	// Replacing moves a mapping between the forms.
	old, replaced := s.put("task:"+u1, "tok-d")
	if !replaced || old.String() != u2 {
		t.Errorf("put replaced %q, %v; want %q", old.String(), replaced, u2)
	}
	if _, ok := s.owner(u2); ok {
		t.Error("the replaced token still has an owner")
	}
	old, replaced = s.put("task:"+u2, u1)
	if !replaced || old.String() != "tok-a" {
		t.Errorf("put replaced %q, %v; want tok-a", old.String(), replaced)
	}
	if tok, _ := s.get("task:" + u2); !tok.compact {
		t.Error("a mapping of UUIDs after replacement is not binary")
	}

	// removeIf removes only the mapping that still holds the token.
	if s.removeIf("task:"+u2, tokenRefOf("tok-a")) {
		t.Error("removeIf removed a mapping with a stale token")
	}
	for _, p := range [][2]string{{"task:" + u2, u1}, {"version:42", u3}, {"doc:x", "tok-b"}, {"task:" + u1, "tok-d"}} {
		tok, _ := s.get(p[0])
		if !s.removeIf(p[0], tok) {
			t.Errorf("removeIf(%q) = false", p[0])
		}
		if _, ok := s.owner(p[1]); ok {
			t.Errorf("token %q still has an owner after removeIf", p[1])
		}
	}
	if got := s.len(); got != 2 {
		t.Errorf("len() = %d after removals, want 2", got)
	}

	// A removed binary mapping's entry is reused.
	used := s.used
	s.put("task:"+u3, u1)
	if s.used != used {
		t.Errorf("%d entries handed out after reusing a free one, want %d", s.used, used)
	}
	if tok, ok := s.get("task:" + u3); !ok || tok.String() != u1 {
		t.Errorf("get of the reused entry = %q, %v", tok.String(), ok)
	}
}

// TestMappingsKindCap checks that kinds past maxKinds fall back to strings.
func TestMappingsKindCap(t *testing.T) {
	s := newMappings()
	s.kinds = make([]string, maxKinds) // pretend every index is taken
	const id, tok = "new:0b6fb3a2-5c1e-4e6f-9a1b-2f3c4d5e6f70", "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	s.put(id, tok)
	if len(s.fwdS) != 1 || len(s.fwdC) != 0 {
		t.Fatalf("past the kind cap: %d string and %d binary mappings, want 1 and 0", len(s.fwdS), len(s.fwdC))
	}
	if got, ok := s.get(id); !ok || got.String() != tok {
		t.Errorf("get = %q, %v", got.String(), ok)
	}
}
