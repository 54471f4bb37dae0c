package callback

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Match is what a [Matcher] extracts from a browser URL.
type Match struct {
	// Identifier is "kind:value", for example "task:42". Kind and value are
	// both non-empty and the value contains no ':'.
	Identifier string
	// Params holds the named values extracted from the URL, for example
	// {"id": "42"}. It may be nil.
	Params map[string]string
}

// A Matcher recognizes the browser URLs of one route and extracts an
// identifier from them. Match reports ok=false when u is not its URL, so that
// the next route is tried. It returns an error when u is its URL but
// malformed, for example an empty or missing id; the handler then answers
// 400, or the error's status if it is a [*Rejection]. The error's message is
// sent in the answer's details, so it must not carry secrets.
//
// A Match with an identifier that is not "kind:value", with a non-empty kind
// and a non-empty value free of ':', is answered 400 as well.
//
// Match must be safe for concurrent use and should not block.
type Matcher interface {
	Match(u *url.URL) (m Match, ok bool, err error)
}

// MatcherFunc adapts a function to a [Matcher].
type MatcherFunc func(u *url.URL) (Match, bool, error)

// Match calls f(u).
func (f MatcherFunc) Match(u *url.URL) (Match, bool, error) { return f(u) }

var (
	_ Matcher = MatcherFunc(nil)
	_ Matcher = (*pathMatcher)(nil)
	_ Matcher = (*queryMatcher)(nil)
	_ Matcher = (*prefixMatcher)(nil)
)

// validator is implemented by the package's matchers: validate reports an
// invalid pattern. NewHandler calls it.
type validator interface {
	validate() error
}

// errInvalidPattern is returned by the Match method of a matcher built with an
// invalid pattern; NewHandler refuses such matchers before that can happen.
var errInvalidPattern = errors.New("callback: matcher has an invalid pattern")

// Path returns a [Matcher] for the paths that fit pattern, a '/'-separated
// path whose segments are literals or wildcards "{name}", for example
// Path("task", "/api/sse/tasks/{id}"). The identifier is kind:value of the
// last wildcard ("task:42" for /api/sse/tasks/42), and Params holds every
// wildcard by name. The query string is ignored.
//
// Matching is done segment by segment on the escaped path, each segment
// unescaped before it is compared, so "%2F" never splits a segment and a
// wildcard value may contain '/'. The number of segments must be the same:
// "/api/sse/tasks/42/x" and "/api/sse/tasks/42/" do not match. A wildcard
// value that is empty, is not valid UTF-8, or contains ':' or a control
// character (see the package documentation, "Identifiers") is an error.
//
// The pattern must start with '/', contain at least one wildcard, and use
// each wildcard name once; names are letters, digits and '_'. A kind must be
// non-empty and free of ':'. An invalid pattern or kind makes [NewHandler]
// fail.
func Path(kind, pattern string) Matcher {
	m := &pathMatcher{kind: kind, pattern: pattern}
	m.err = m.compile()
	return m
}

type pathMatcher struct {
	kind    string
	pattern string
	segs    []pathSeg
	last    int // index in segs of the wildcard that makes the identifier
	err     error
}

// pathSeg is a literal segment, or a wildcard when name is non-empty.
type pathSeg struct {
	literal string
	name    string
}

func (m *pathMatcher) compile() error {
	if err := checkKind(m.kind); err != nil {
		return fmt.Errorf("Path(%q, %q): %w", m.kind, m.pattern, err)
	}
	if !strings.HasPrefix(m.pattern, "/") {
		return fmt.Errorf("Path(%q, %q): pattern must start with '/'", m.kind, m.pattern)
	}
	seen := map[string]bool{}
	m.last = -1
	for i, s := range strings.Split(m.pattern, "/") {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) >= 2 {
			name := s[1 : len(s)-1]
			if !validParamName(name) {
				return fmt.Errorf("Path(%q, %q): invalid wildcard name %q", m.kind, m.pattern, name)
			}
			if seen[name] {
				return fmt.Errorf("Path(%q, %q): duplicate wildcard %q", m.kind, m.pattern, name)
			}
			seen[name] = true
			m.segs = append(m.segs, pathSeg{name: name})
			m.last = i
			continue
		}
		if strings.ContainsAny(s, "{}") {
			return fmt.Errorf("Path(%q, %q): segment %q: a wildcard must be a whole segment", m.kind, m.pattern, s)
		}
		m.segs = append(m.segs, pathSeg{literal: s})
	}
	if m.last < 0 {
		return fmt.Errorf("Path(%q, %q): pattern has no wildcard", m.kind, m.pattern)
	}
	return nil
}

func (m *pathMatcher) validate() error { return m.err }

// Match implements [Matcher].
func (m *pathMatcher) Match(u *url.URL) (Match, bool, error) {
	if m.err != nil {
		return Match{}, false, errInvalidPattern
	}
	if u == nil {
		return Match{}, false, nil
	}
	esc := u.EscapedPath()
	if strings.Count(esc, "/")+1 != len(m.segs) {
		return Match{}, false, nil
	}
	var buf [16]string
	values := buf[:0]
	if len(m.segs) > len(buf) {
		values = make([]string, 0, len(m.segs))
	}
	for i, rest := 0, esc; i < len(m.segs); i++ {
		var raw string
		raw, rest, _ = strings.Cut(rest, "/")
		s := raw
		var err error
		if strings.IndexByte(raw, '%') >= 0 {
			s, err = url.PathUnescape(raw)
		}
		if err != nil {
			// Not a valid escape: a literal cannot match it.
			if m.segs[i].name == "" {
				return Match{}, false, nil
			}
			return Match{}, false, &valueError{param: m.segs[i].name, reason: "is not a valid path segment"}
		}
		if m.segs[i].name == "" && s != m.segs[i].literal {
			return Match{}, false, nil
		}
		values = append(values, s)
	}
	params := make(map[string]string, len(m.segs))
	for i, seg := range m.segs {
		if seg.name == "" {
			continue
		}
		if err := checkValue(seg.name, values[i]); err != nil {
			return Match{}, false, err
		}
		params[seg.name] = values[i]
	}
	return Match{Identifier: m.kind + ":" + values[m.last], Params: params}, true, nil
}

// Query returns a [Matcher] for the URLs whose path is path and whose query
// carries param, for example Query("task", "/api/sse/tasks", "task_id") for
// /api/sse/tasks?task_id=42. The identifier is kind:<value of param>
// ("task:42") and Params holds {param: value}.
//
// The path is compared with the unescaped URL path, exactly. Once the path
// matches, a missing or empty param, a param given more than once, or a
// value that is not valid UTF-8 or contains ':' or a control character is an
// error (answered 400),
// not a reason to try the next route.
//
// path must start with '/', param must be non-empty and kind must be
// non-empty and free of ':'; otherwise [NewHandler] fails.
func Query(kind, path, param string) Matcher {
	m := &queryMatcher{kind: kind, path: path, param: param}
	switch {
	case checkKind(kind) != nil:
		m.err = fmt.Errorf("Query(%q, %q, %q): %w", kind, path, param, checkKind(kind))
	case !strings.HasPrefix(path, "/"):
		m.err = fmt.Errorf("Query(%q, %q, %q): path must start with '/'", kind, path, param)
	case strings.ContainsAny(path, "?#"):
		m.err = fmt.Errorf("Query(%q, %q, %q): path must not contain '?' or '#'", kind, path, param)
	case param == "":
		m.err = fmt.Errorf("Query(%q, %q, %q): empty parameter name", kind, path, param)
	}
	return m
}

type queryMatcher struct {
	kind  string
	path  string
	param string
	err   error
}

func (m *queryMatcher) validate() error { return m.err }

// Match implements [Matcher].
func (m *queryMatcher) Match(u *url.URL) (Match, bool, error) {
	if m.err != nil {
		return Match{}, false, errInvalidPattern
	}
	if u == nil || u.Path != m.path {
		return Match{}, false, nil
	}
	q, perr := url.ParseQuery(u.RawQuery)
	vs := q[m.param]
	switch {
	case len(vs) == 0 && perr != nil:
		return Match{}, false, &valueError{param: m.param, reason: "is missing or not a valid query parameter"}
	case len(vs) == 0:
		return Match{}, false, &valueError{param: m.param, reason: "is missing"}
	case len(vs) > 1:
		return Match{}, false, &valueError{param: m.param, reason: "is given more than once"}
	}
	if err := checkValue(m.param, vs[0]); err != nil {
		return Match{}, false, err
	}
	return Match{Identifier: m.kind + ":" + vs[0], Params: map[string]string{m.param: vs[0]}}, true, nil
}

// Prefix returns a [Matcher] for the paths that start with prefix, for
// example Prefix("doc", "/api/sse/docs/"). The identifier is kind:<rest>,
// where rest is the unescaped remainder of the path ("doc:a/b" for
// /api/sse/docs/a/b), and Params holds {"rest": rest}. The query string is
// ignored.
//
// Like [Path], the comparison is made segment by segment on the escaped path,
// so "/api/sse/docs%2Fx" does not match the prefix "/api/sse/docs/". An empty
// rest, or a rest that is not valid UTF-8 or contains ':' or a control
// character, is an error.
//
// prefix must start with '/' and kind must be non-empty and free of ':';
// otherwise [NewHandler] fails.
func Prefix(kind, prefix string) Matcher {
	m := &prefixMatcher{kind: kind, prefix: prefix, segs: strings.Split(prefix, "/")}
	switch {
	case checkKind(kind) != nil:
		m.err = fmt.Errorf("Prefix(%q, %q): %w", kind, prefix, checkKind(kind))
	case !strings.HasPrefix(prefix, "/"):
		m.err = fmt.Errorf("Prefix(%q, %q): prefix must start with '/'", kind, prefix)
	case strings.ContainsAny(prefix, "?#"):
		m.err = fmt.Errorf("Prefix(%q, %q): prefix must not contain '?' or '#'", kind, prefix)
	}
	return m
}

// prefixParam is the name of the parameter in which a [Prefix] matcher
// reports the rest of the path.
const prefixParam = "rest"

type prefixMatcher struct {
	kind   string
	prefix string
	segs   []string // prefix split at '/'
	err    error
}

func (m *prefixMatcher) validate() error { return m.err }

// Match implements [Matcher].
func (m *prefixMatcher) Match(u *url.URL) (Match, bool, error) {
	if m.err != nil {
		return Match{}, false, errInvalidPattern
	}
	if u == nil {
		return Match{}, false, nil
	}
	raw := strings.Split(u.EscapedPath(), "/")
	if len(raw) < len(m.segs) {
		return Match{}, false, nil
	}
	last := len(m.segs) - 1
	segs := make([]string, len(raw))
	for i, r := range raw {
		s, err := url.PathUnescape(r)
		if err != nil {
			if i < last {
				return Match{}, false, nil
			}
			return Match{}, false, &valueError{param: prefixParam, reason: "is not a valid path"}
		}
		if i < last && s != m.segs[i] {
			return Match{}, false, nil
		}
		segs[i] = s
	}
	if !strings.HasPrefix(segs[last], m.segs[last]) {
		return Match{}, false, nil
	}
	segs[last] = segs[last][len(m.segs[last]):]
	rest := strings.Join(segs[last:], "/")
	if err := checkValue(prefixParam, rest); err != nil {
		return Match{}, false, err
	}
	return Match{Identifier: m.kind + ":" + rest, Params: map[string]string{prefixParam: rest}}, true, nil
}

// checkKind reports why kind cannot be the kind of an identifier.
func checkKind(kind string) error {
	switch {
	case kind == "":
		return errors.New("empty kind")
	case strings.Contains(kind, ":"):
		return errors.New("kind must not contain ':'")
	case !utf8.ValidString(kind):
		return errors.New("kind must be valid UTF-8")
	case hasControl(kind):
		return errors.New("kind must not contain control characters")
	}
	return nil
}

// checkValue reports why v cannot be the value of an identifier.
func checkValue(param, v string) error {
	switch {
	case v == "":
		return &valueError{param: param, reason: "is empty"}
	case strings.Contains(v, ":"):
		return &valueError{param: param, reason: "must not contain ':'"}
	case !utf8.ValidString(v):
		return &valueError{param: param, reason: "must be valid UTF-8"}
	case hasControl(v):
		return &valueError{param: param, reason: "must not contain control characters"}
	}
	return nil
}

// checkIdentifier reports why id is not a valid "kind:value" identifier.
func checkIdentifier(id string) error {
	kind, value, ok := strings.Cut(id, ":")
	if !ok {
		return &valueError{param: "identifier", reason: "must be kind:value"}
	}
	if err := checkKind(kind); err != nil {
		return &valueError{param: "identifier", reason: "has an invalid kind: " + err.Error()}
	}
	return checkValue("identifier", value)
}

// hasControl reports whether s holds a control character in the sense of
// this package: a character of the Unicode categories Cc (C0 and C1
// controls, U+0085 included, and DEL), Cf (format characters: bidi
// overrides such as U+202E, zero-width characters, U+FEFF), Zl (U+2028) or
// Zp (U+2029). Such characters are invisible or reorder, break or end lines
// in logs, span attributes and terminals, so an identifier never holds one.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return true
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return true
		}
		i += size - 1
	}
	return false
}

func validParamName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}
