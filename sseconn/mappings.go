package sseconn

// mappings holds the identifier-to-token mappings and their mirror, token to
// identifier. It is not safe for concurrent use: the manager's mutex guards
// it.
//
// The gateway's tokens are UUIDs, and so are the values of most identifiers
// ("task:<uuid>"): 16 bytes of information each, held in a 36-character
// string plus its 16-byte header. A mapping whose token is a canonical
// (lower-case) UUID and whose identifier is "<kind>:<canonical UUID>" is
// therefore kept binary, without any string: one 36-byte entry in chunks of
// entries, indexed both ways by maps of 4-byte entry numbers. That is 90 to
// 145 bytes per mapping (Go's maps are between 7/16 and 7/8 full) instead of
// about 260 for two maps of strings. Every other mapping (tokens or
// identifiers of any other form) is kept as strings in fwdS and revS. A
// mapping lives in exactly one form; lookups try the binary form first.
type mappings struct {
	chunks [][]entry            // entries, entryChunk per chunk
	free   []uint32             // numbers of unused entries
	used   uint32               // entries handed out, free ones included
	fwdC   map[idKey]uint32     // compact identifier -> entry number
	revC   map[uuidBytes]uint32 // compact token -> entry number
	fwdS   map[string]string    // identifier -> token, for the other mappings
	revS   map[string]string    // token -> identifier, for the other mappings

	kinds   []string          // kind of each kind index; index 0 is unused
	kindIdx map[string]uint32 // kind -> kind index
}

// maxKinds caps the kinds that compact identifiers may have. Kinds are few
// in practice (task, version, ...); a program that makes more gets string
// mappings past the cap.
const maxKinds = 1 << 12

// entry is one binary mapping.
type entry struct {
	id  idKey
	tok uuidBytes
}

// entryChunk is the number of entries per chunk: chunks waste at most one
// partly used chunk, where one growing slice would waste up to half.
const entryChunk = 1024

// at returns the entry numbered n.
func (s *mappings) at(n uint32) *entry { return &s.chunks[n/entryChunk][n%entryChunk] }

// newEntry stores e and returns its number.
func (s *mappings) newEntry(e entry) uint32 {
	var n uint32
	if k := len(s.free); k > 0 {
		n = s.free[k-1]
		s.free = s.free[:k-1]
	} else {
		n = s.used
		s.used++
		if int(n/entryChunk) == len(s.chunks) {
			s.chunks = append(s.chunks, make([]entry, entryChunk))
		}
	}
	*s.at(n) = e
	return n
}

// idKey is a compact identifier: the index of its kind and its UUID.
type idKey struct {
	u    uuidBytes
	kind uint32
}

// tokenRef is a token as the mappings hold it: the UUID's bytes when
// compact, else the string.
type tokenRef struct {
	s       string // the token, when not compact
	u       uuidBytes
	compact bool
}

// String returns the token's canonical text.
func (t tokenRef) String() string {
	if t.compact {
		return t.u.String()
	}
	return t.s
}

func newMappings() mappings {
	return mappings{
		fwdC:    make(map[idKey]uint32),
		revC:    make(map[uuidBytes]uint32),
		fwdS:    make(map[string]string),
		revS:    make(map[string]string),
		kinds:   []string{""},
		kindIdx: make(map[string]uint32),
	}
}

// compactID parses identifier as "<kind>:<canonical UUID>". With intern, a
// kind not seen before gets an index (up to maxKinds); without, it makes
// the identifier not compact, since no binary mapping can then hold it.
func (s *mappings) compactID(identifier string, intern bool) (idKey, bool) {
	i := len(identifier) - uuidLen - 1
	if i <= 0 || identifier[i] != ':' {
		return idKey{}, false
	}
	u, ok := parseUUID(identifier[i+1:])
	if !ok {
		return idKey{}, false
	}
	kind := identifier[:i]
	k, ok := s.kindIdx[kind]
	if !ok {
		if !intern || len(s.kinds) >= maxKinds {
			return idKey{}, false
		}
		k = uint32(len(s.kinds))
		s.kinds = append(s.kinds, kind)
		s.kindIdx[kind] = k
	}
	return idKey{u: u, kind: k}, true
}

// identifier returns the text of a compact identifier.
func (s *mappings) identifier(k idKey) string {
	kind := s.kinds[k.kind]
	b := make([]byte, 0, len(kind)+1+uuidLen)
	b = append(b, kind...)
	b = append(b, ':')
	b = k.u.appendText(b)
	return string(b)
}

// tokenRefOf returns the form in which token would be held.
func tokenRefOf(token string) tokenRef {
	if u, ok := parseUUID(token); ok {
		return tokenRef{u: u, compact: true}
	}
	return tokenRef{s: token}
}

// len returns the number of mappings.
func (s *mappings) len() int { return len(s.fwdC) + len(s.fwdS) }

// get returns the token of identifier.
func (s *mappings) get(identifier string) (tokenRef, bool) {
	if k, ok := s.compactID(identifier, false); ok {
		if n, ok := s.fwdC[k]; ok {
			return tokenRef{u: s.at(n).tok, compact: true}, true
		}
	}
	if len(s.fwdS) > 0 {
		if t, ok := s.fwdS[identifier]; ok {
			return tokenRef{s: t}, true
		}
	}
	return tokenRef{}, false
}

// owner returns the identifier that token is registered under.
func (s *mappings) owner(token string) (string, bool) {
	if u, ok := parseUUID(token); ok {
		if n, ok := s.revC[u]; ok {
			return s.identifier(s.at(n).id), true
		}
	}
	id, ok := s.revS[token]
	return id, ok
}

// put maps identifier to token, which must not be registered, and returns
// the token identifier had before, if any. The old token's reverse entry is
// removed.
func (s *mappings) put(identifier, token string) (old tokenRef, replaced bool) {
	old, replaced = s.get(identifier)
	if replaced {
		s.delete(identifier, old)
	}
	t := tokenRefOf(token)
	if k, ok := s.compactID(identifier, true); ok && t.compact {
		n := s.newEntry(entry{id: k, tok: t.u})
		s.fwdC[k] = n
		s.revC[t.u] = n
		return old, replaced
	}
	s.fwdS[identifier] = token
	s.revS[token] = identifier
	return old, replaced
}

// delete removes the mapping of identifier to t, which must exist.
func (s *mappings) delete(identifier string, t tokenRef) {
	if t.compact {
		if k, ok := s.compactID(identifier, false); ok {
			if n, ok := s.fwdC[k]; ok && s.at(n).tok == t.u {
				delete(s.fwdC, k)
				delete(s.revC, t.u)
				*s.at(n) = entry{}
				s.free = append(s.free, n)
				return
			}
		}
	}
	tok := t.String()
	if s.fwdS[identifier] == tok {
		delete(s.fwdS, identifier)
	}
	if s.revS[tok] == identifier {
		delete(s.revS, tok)
	}
}

// removeIf removes identifier's mapping if it still holds t, and reports
// whether it did.
func (s *mappings) removeIf(identifier string, t tokenRef) bool {
	cur, ok := s.get(identifier)
	if !ok || cur != t {
		return false
	}
	s.delete(identifier, t)
	return true
}

// each calls fn for every mapping.
func (s *mappings) each(fn func(identifier string, t tokenRef)) {
	for k, n := range s.fwdC {
		fn(s.identifier(k), tokenRef{u: s.at(n).tok, compact: true})
	}
	for id, tok := range s.fwdS {
		fn(id, tokenRef{s: tok})
	}
}

// eachToken calls fn for every reverse entry, token to identifier.
func (s *mappings) eachToken(fn func(token, identifier string)) {
	for u, n := range s.revC {
		fn(u.String(), s.identifier(s.at(n).id))
	}
	for tok, id := range s.revS {
		fn(tok, id)
	}
}
