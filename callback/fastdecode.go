package callback

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// callbackFields are the decoded fields of a callback body, before
// validation.
type callbackFields struct {
	action, token, reason, url string
	header                     http.Header
}

// fastDecode decodes the common form of a callback body (the form the
// gateway sends) without encoding/json: exact lower-case field names, each
// at most once, strings without escapes or non-ASCII bytes, lower-case
// header names, header values that are a string or a non-empty array of
// strings. It returns false for anything else, which decode then hands to
// encoding/json; when it returns true, its fields are exactly those
// encoding/json and httpHeader would produce (FuzzFastDecode holds it to
// that).
//
// Every string of the result shares the memory of one copy of the body,
// and every header value the memory of one slice.
func fastDecode(body []byte) (callbackFields, bool) {
	p := jsonParser{s: string(body)}
	var cb callbackFields
	p.space()
	if !p.byte('{') {
		return cb, false
	}
	var seen [4]bool
	for first := true; ; first = false {
		key, done, ok := p.key(first)
		if !ok {
			return cb, false
		}
		if done {
			break
		}
		var field int
		var dst *string
		switch key {
		case "action":
			field, dst = 0, &cb.action
		case "token":
			field, dst = 1, &cb.token
		case "reason":
			field, dst = 2, &cb.reason
		case "request":
			field = 3
		default:
			if foldsTo(key, "action", "token", "reason", "request") || !p.skip(0) {
				return cb, false
			}
			continue
		}
		if seen[field] {
			return cb, false // encoding/json merges duplicates: leave it to it
		}
		seen[field] = true
		if dst != nil {
			if *dst, ok = p.str(); !ok {
				return cb, false
			}
			continue
		}
		if !p.request(&cb) {
			return cb, false
		}
	}
	p.space()
	if p.i != len(p.s) {
		return cb, false
	}
	if cb.header == nil {
		cb.header = make(http.Header)
	}
	return cb, true
}

// request decodes the "request" member: {"url": ..., "headers": {...}}.
func (p *jsonParser) request(cb *callbackFields) bool {
	if !p.byte('{') {
		return false
	}
	var seenURL, seenHeaders bool
	for first := true; ; first = false {
		key, done, ok := p.key(first)
		if !ok {
			return false
		}
		if done {
			return true
		}
		switch key {
		case "url":
			if seenURL {
				return false
			}
			seenURL = true
			if cb.url, ok = p.str(); !ok {
				return false
			}
		case "headers":
			if seenHeaders {
				return false
			}
			seenHeaders = true
			if cb.header, ok = p.headers(); !ok {
				return false
			}
		default:
			if foldsTo(key, "url", "headers") || !p.skip(0) {
				return false
			}
		}
	}
}

// headers decodes the "headers" object into an http.Header with canonical
// names.
func (p *jsonParser) headers() (http.Header, bool) {
	if !p.byte('{') {
		return nil, false
	}
	h := make(http.Header, 16)
	vals := make([]string, 0, 16)
	for first := true; ; first = false {
		name, done, ok := p.key(first)
		if !ok {
			return nil, false
		}
		if done {
			return h, true
		}
		if !lowerToken(name) {
			return nil, false // case variants are merged in sorted order: leave it to httpHeader
		}
		ck := canonicalName(name)
		if _, dup := h[ck]; dup {
			return nil, false
		}
		start := len(vals)
		if p.peek() == '[' {
			p.i++
			for vfirst := true; ; vfirst = false {
				p.space()
				if p.peek() == ']' {
					p.i++
					break
				}
				if !vfirst && !p.byte(',') {
					return nil, false
				}
				p.space()
				v, ok := p.str()
				if !ok {
					return nil, false
				}
				vals = append(vals, v)
			}
			if len(vals) == start {
				return nil, false // [] and a duplicate name: leave it to encoding/json
			}
		} else {
			v, ok := p.str()
			if !ok {
				return nil, false
			}
			vals = append(vals, v)
		}
		h[ck] = vals[start:len(vals):len(vals)]
	}
}

// maxCanonicalNames caps the header names whose canonical form is kept.
const maxCanonicalNames = 1024

// canonicalNames caches http.CanonicalHeaderKey of lower-case names, which
// allocates for names outside net/textproto's short list of common ones
// (sec-fetch-mode, x-forwarded-for, ...).
var (
	canonicalNames      sync.Map // name -> canonical name
	canonicalNamesCount atomic.Int64
)

// canonicalName returns http.CanonicalHeaderKey(name).
func canonicalName(name string) string {
	if v, ok := canonicalNames.Load(name); ok {
		return v.(string)
	}
	ck := http.CanonicalHeaderKey(name)
	if canonicalNamesCount.Add(1) <= maxCanonicalNames {
		// name, and ck when unchanged, are parts of a body: copy them so
		// that the cache keeps no body alive.
		ck = strings.Clone(ck)
		canonicalNames.Store(strings.Clone(name), ck)
	}
	return ck
}

// lowerToken reports whether name is a non-empty HTTP token without
// upper-case letters.
func lowerToken(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// foldsTo reports whether key matches one of names case-insensitively, as
// encoding/json matches field names. key is ASCII (jsonParser.str refuses
// anything else).
func foldsTo(key string, names ...string) bool {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

// jsonParser reads the JSON text s from position i. Its methods return
// false for anything outside the subset fastDecode handles, which includes
// every invalid input.
type jsonParser struct {
	s string
	i int
}

func (p *jsonParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// byte consumes c, after optional white space.
func (p *jsonParser) byte(c byte) bool {
	p.space()
	if p.peek() != c {
		return false
	}
	p.i++
	return true
}

// key reads the next member key of an object whose '{' was consumed, and
// the ':' after it. It reports done at the closing '}'.
func (p *jsonParser) key(first bool) (key string, done, ok bool) {
	p.space()
	if p.peek() == '}' {
		p.i++
		return "", true, true
	}
	if !first {
		if !p.byte(',') {
			return "", false, false
		}
		p.space()
	}
	if key, ok = p.str(); !ok || !p.byte(':') {
		return "", false, false
	}
	p.space()
	return key, false, true
}

// str reads a string of printable ASCII without escapes and returns its
// content, which shares s's memory.
func (p *jsonParser) str() (string, bool) {
	p.space()
	if p.peek() != '"' {
		return "", false
	}
	start := p.i + 1
	for i := start; i < len(p.s); i++ {
		switch c := p.s[i]; {
		case c == '"':
			p.i = i + 1
			return p.s[start:i], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// maxSkipDepth bounds the nesting of skipped values.
const maxSkipDepth = 32

// skip passes over one value of an unknown member.
func (p *jsonParser) skip(depth int) bool {
	if depth > maxSkipDepth {
		return false
	}
	p.space()
	switch c := p.peek(); {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{':
		p.i++
		for first := true; ; first = false {
			_, done, ok := p.key(first)
			if !ok {
				return false
			}
			if done {
				return true
			}
			if !p.skip(depth + 1) {
				return false
			}
		}
	case c == '[':
		p.i++
		for first := true; ; first = false {
			p.space()
			if p.peek() == ']' {
				p.i++
				return true
			}
			if !first && !p.byte(',') {
				return false
			}
			if !p.skip(depth + 1) {
				return false
			}
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return false
}

func (p *jsonParser) literal(lit string) bool {
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

// number reads a number as JSON defines it.
func (p *jsonParser) number() bool {
	s, i := p.s, p.i
	if s[i] == '-' {
		i++
	}
	digits := func(i int) int {
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(i + 1)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return false
		}
		i = j
	}
	p.i = i
	return true
}
