package callback_test

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ssegate/ssegate/callback"
)

// matchResult is a Match call's outcome in comparable form.
type matchResult struct {
	Match callback.Match
	OK    bool
	Err   string
}

func runMatch(t *testing.T, m callback.Matcher, raw string) matchResult {
	t.Helper()
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		t.Fatalf("ParseRequestURI(%q): %v", raw, err)
	}
	got, ok, err := m.Match(u)
	r := matchResult{Match: got, OK: ok}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

func ok(id string, params map[string]string) matchResult {
	return matchResult{Match: callback.Match{Identifier: id, Params: params}, OK: true}
}

func matchErr(msg string) matchResult { return matchResult{Err: msg} }

var noMatch = matchResult{}

func TestPath(t *testing.T) {
	tests := []struct {
		name    string
		kind    string
		pattern string
		url     string
		want    matchResult
	}{
		{name: "match", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/42", want: ok("task:42", map[string]string{"id": "42"})},
		{name: "query ignored", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/42?x=1", want: ok("task:42", map[string]string{"id": "42"})},
		{name: "uuid", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/7c9e6679-7425-40de-944b-e07fc1f90ae7",
			want: ok("task:7c9e6679-7425-40de-944b-e07fc1f90ae7", map[string]string{"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7"})},
		{name: "escaped value", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/a%20b%C3%A9", want: ok("task:a bé", map[string]string{"id": "a bé"})},
		{name: "escaped slash in value", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/a%2Fb", want: ok("task:a/b", map[string]string{"id": "a/b"})},
		{name: "escaped literal", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/%73se/tasks/1", want: ok("task:1", map[string]string{"id": "1"})},
		{name: "escaped slash does not split a literal", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse%2Ftasks/1", want: noMatch},
		{name: "two wildcards, last is the identifier", kind: "task", pattern: "/p/{project}/tasks/{id}", url: "/p/x:y/tasks/3",
			want: matchErr(`callback: parameter "project" must not contain ':'`)},
		{name: "two wildcards", kind: "task", pattern: "/p/{project}/tasks/{id}", url: "/p/alpha/tasks/3",
			want: ok("task:3", map[string]string{"project": "alpha", "id": "3"})},
		{name: "other path", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/docs/42", want: noMatch},
		{name: "extra segment", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/42/x", want: noMatch},
		{name: "trailing slash", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/42/", want: noMatch},
		{name: "shorter", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks", want: noMatch},
		{name: "double slash", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api//sse/tasks", want: noMatch},
		{name: "case matters", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/API/sse/tasks/1", want: noMatch},
		{name: "empty", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/", want: matchErr(`callback: parameter "id" is empty`)},
		{name: "colon", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/a:b", want: matchErr(`callback: parameter "id" must not contain ':'`)},
		{name: "escaped colon", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/a%3ab", want: matchErr(`callback: parameter "id" must not contain ':'`)},
		{name: "NUL", kind: "task", pattern: "/api/sse/tasks/{id}", url: "/api/sse/tasks/a%00", want: matchErr(`callback: parameter "id" must not contain control characters`)},
		{name: "root wildcard", kind: "k", pattern: "/{id}", url: "/x", want: ok("k:x", map[string]string{"id": "x"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runMatch(t, callback.Path(tt.kind, tt.pattern), tt.url)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Match(%q) mismatch (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	m := callback.Query("task", "/api/sse/tasks", "task_id")
	tests := []struct {
		name string
		url  string
		want matchResult
	}{
		{name: "match", url: "/api/sse/tasks?task_id=42", want: ok("task:42", map[string]string{"task_id": "42"})},
		{name: "among others", url: "/api/sse/tasks?a=1&task_id=42&b", want: ok("task:42", map[string]string{"task_id": "42"})},
		{name: "escaped", url: "/api/sse/tasks?task_id=a%20b+c", want: ok("task:a b c", map[string]string{"task_id": "a b c"})},
		{name: "escaped path", url: "/api/sse/t%61sks?task_id=1", want: ok("task:1", map[string]string{"task_id": "1"})},
		{name: "malformed other parameter", url: "/api/sse/tasks?x=%zz&task_id=1", want: ok("task:1", map[string]string{"task_id": "1"})},
		{name: "other path", url: "/api/sse/tasks/1?task_id=1", want: noMatch},
		{name: "trailing slash", url: "/api/sse/tasks/?task_id=1", want: noMatch},
		{name: "missing", url: "/api/sse/tasks", want: matchErr(`callback: parameter "task_id" is missing`)},
		{name: "other parameter", url: "/api/sse/tasks?id=1", want: matchErr(`callback: parameter "task_id" is missing`)},
		{name: "malformed", url: "/api/sse/tasks?task_id=%zz", want: matchErr(`callback: parameter "task_id" is missing or not a valid query parameter`)},
		{name: "semicolon", url: "/api/sse/tasks?task_id=1;x=2", want: matchErr(`callback: parameter "task_id" is missing or not a valid query parameter`)},
		{name: "empty", url: "/api/sse/tasks?task_id=", want: matchErr(`callback: parameter "task_id" is empty`)},
		{name: "no value", url: "/api/sse/tasks?task_id", want: matchErr(`callback: parameter "task_id" is empty`)},
		{name: "twice", url: "/api/sse/tasks?task_id=1&task_id=2", want: matchErr(`callback: parameter "task_id" is given more than once`)},
		{name: "colon", url: "/api/sse/tasks?task_id=task:1", want: matchErr(`callback: parameter "task_id" must not contain ':'`)},
		{name: "escaped colon", url: "/api/sse/tasks?task_id=1%3A2", want: matchErr(`callback: parameter "task_id" must not contain ':'`)},
		{name: "newline", url: "/api/sse/tasks?task_id=1%0A2", want: matchErr(`callback: parameter "task_id" must not contain control characters`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runMatch(t, m, tt.url)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Match(%q) mismatch (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		url    string
		want   matchResult
	}{
		{name: "match", prefix: "/api/sse/docs/", url: "/api/sse/docs/42", want: ok("doc:42", map[string]string{"rest": "42"})},
		{name: "nested", prefix: "/api/sse/docs/", url: "/api/sse/docs/a/b?x=1", want: ok("doc:a/b", map[string]string{"rest": "a/b"})},
		{name: "escaped rest", prefix: "/api/sse/docs/", url: "/api/sse/docs/a%2Fb%20c", want: ok("doc:a/b c", map[string]string{"rest": "a/b c"})},
		{name: "prefix inside a segment", prefix: "/api/sse/doc-", url: "/api/sse/doc-7/x", want: ok("doc:7/x", map[string]string{"rest": "7/x"})},
		{name: "escaped prefix", prefix: "/api/sse/docs/", url: "/api/s%73e/docs/1", want: ok("doc:1", map[string]string{"rest": "1"})},
		{name: "escaped slash does not end the prefix", prefix: "/api/sse/docs/", url: "/api/sse/docs%2F1", want: noMatch},
		{name: "other path", prefix: "/api/sse/docs/", url: "/api/sse/tasks/1", want: noMatch},
		{name: "without trailing slash", prefix: "/api/sse/docs/", url: "/api/sse/docs", want: noMatch},
		{name: "segment-wise", prefix: "/api/sse/docs/", url: "/api/sse/docsx/1", want: noMatch},
		{name: "empty rest", prefix: "/api/sse/docs/", url: "/api/sse/docs/", want: matchErr(`callback: parameter "rest" is empty`)},
		{name: "colon", prefix: "/api/sse/docs/", url: "/api/sse/docs/a:b", want: matchErr(`callback: parameter "rest" must not contain ':'`)},
		{name: "escaped colon", prefix: "/api/sse/docs/", url: "/api/sse/docs/x/a%3Ab", want: matchErr(`callback: parameter "rest" must not contain ':'`)},
		{name: "root prefix", prefix: "/", url: "/x/y", want: ok("doc:x/y", map[string]string{"rest": "x/y"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runMatch(t, callback.Prefix("doc", tt.prefix), tt.url)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Match(%q) mismatch (-want +got):\n%s", tt.url, diff)
			}
		})
	}
}

func TestMatchersNilURL(t *testing.T) {
	for _, m := range []callback.Matcher{
		callback.Path("t", "/t/{id}"), callback.Query("t", "/t", "id"), callback.Prefix("t", "/t/"),
	} {
		if _, ok, err := m.Match(nil); ok || err != nil {
			t.Errorf("%T.Match(nil) = %v, %v; want no match", m, ok, err)
		}
	}
}

// A matcher with an invalid pattern never matches, even when used without
// NewHandler.
func TestMatchersInvalidPattern(t *testing.T) {
	u := &url.URL{Path: "/t/1", RawQuery: "id=1"}
	for _, m := range []callback.Matcher{
		callback.Path("", "/t/{id}"), callback.Query("t", "t", "id"), callback.Prefix("t:", "/t/"),
	} {
		if _, ok, err := m.Match(u); ok || err == nil {
			t.Errorf("%T.Match = %v, %v; want an error", m, ok, err)
		}
	}
}

func TestMatcherFunc(t *testing.T) {
	m := callback.MatcherFunc(func(u *url.URL) (callback.Match, bool, error) {
		if u.Path == "/bad" {
			return callback.Match{}, false, errors.New("bad")
		}
		if u.Path == "/" {
			return callback.Match{}, false, nil
		}
		return callback.Match{Identifier: "p:" + strings.TrimPrefix(u.Path, "/")}, true, nil
	})
	got := []matchResult{runMatch(t, m, "/x"), runMatch(t, m, "/"), runMatch(t, m, "/bad")}
	want := []matchResult{ok("p:x", nil), noMatch, matchErr("bad")}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

// checkMatch asserts the invariants of any Match outcome.
func checkMatch(t *testing.T, raw string, m callback.Match, matched bool, err error) {
	t.Helper()
	if matched && err != nil {
		t.Fatalf("%q: matched with an error: %v", raw, err)
	}
	if !matched {
		return
	}
	kind, value, found := strings.Cut(m.Identifier, ":")
	if !found || kind == "" || value == "" || strings.Contains(value, ":") {
		t.Fatalf("%q: invalid identifier %q", raw, m.Identifier)
	}
	if !utf8.ValidString(value) {
		t.Fatalf("%q: identifier %q is not valid UTF-8", raw, m.Identifier)
	}
	for _, c := range value {
		if unicode.In(c, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			t.Fatalf("%q: control character %U in identifier %q", raw, c, m.Identifier)
		}
	}
}

// TestFault4MatchersRejectUnicodeControls checks that every matcher
// refuses Unicode controls and invalid UTF-8 in a value (issue 12,
// fault 4).
func TestFault4MatchersRejectUnicodeControls(t *testing.T) {
	const ctl = `callback: parameter "%s" must not contain control characters`
	const utf = `callback: parameter "%s" must be valid UTF-8`
	values := []struct {
		name, escaped, want string
	}{
		{"U+0085 next line", "a%C2%85b", ctl},
		{"U+2028 line separator", "a%E2%80%A8b", ctl},
		{"U+2029 paragraph separator", "a%E2%80%A9b", ctl},
		{"U+202E right-to-left override", "a%E2%80%AEb", ctl},
		{"U+200B zero width space", "a%E2%80%8Bb", ctl},
		{"U+FEFF byte order mark", "%EF%BB%BFa", ctl},
		{"U+009B C1 CSI", "a%C2%9B", ctl},
		{"DEL", "a%7F", ctl},
		{"invalid UTF-8", "a%FFb", utf},
		{"truncated UTF-8", "a%E2%80", utf},
		{"encoded surrogate", "a%ED%A0%80", utf},
		{"letters and symbols pass", "%C3%A9%E2%9C%93%F0%9F%98%80", ""},
	}
	matchers := []struct {
		name, param string
		m           callback.Matcher
		url         func(v string) string
	}{
		{"Path", "id", callback.Path("task", "/t/{id}"), func(v string) string { return "/t/" + v }},
		{"Query", "id", callback.Query("task", "/t", "id"), func(v string) string { return "/t?id=" + v }},
		{"Prefix", "rest", callback.Prefix("task", "/t/"), func(v string) string { return "/t/" + v }},
	}
	var got, want []string
	for _, m := range matchers {
		for _, v := range values {
			r := runMatch(t, m.m, m.url(v.escaped))
			got = append(got, m.name+" "+v.name+": "+r.Err)
			w := ""
			if v.want != "" {
				w = fmt.Sprintf(v.want, m.param)
			}
			want = append(want, m.name+" "+v.name+": "+w)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("match errors (-want +got):\n%s", diff)
	}
	if r := runMatch(t, callback.Path("t\u202e", "/t/{id}"), "/t/x"); r.Err != "callback: matcher has an invalid pattern" {
		t.Errorf("a kind with U+202E: Match = %+v, want the invalid-pattern error", r)
	}
}

func fuzzMatcher(f *testing.F, m callback.Matcher, seeds ...string) {
	f.Helper()
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// The URL as the handler parses it, and an arbitrary path too.
		if u, err := url.ParseRequestURI(raw); err == nil {
			got, matched, err := m.Match(u)
			checkMatch(t, raw, got, matched, err)
		}
		u := &url.URL{Path: raw, RawPath: raw, RawQuery: raw}
		got, matched, err := m.Match(u)
		checkMatch(t, raw, got, matched, err)
	})
}

func FuzzPath(f *testing.F) {
	fuzzMatcher(f, callback.Path("task", "/api/sse/tasks/{id}/{sub}"),
		"/api/sse/tasks/42/x", "/api/sse/tasks/a%2Fb/c", "/api/sse/tasks//", "/api/sse/tasks/a:b/c", "/api/sse/tasks/%zz/x", "/api/sse/tasks/%3a/%00")
}

func FuzzQuery(f *testing.F) {
	fuzzMatcher(f, callback.Query("task", "/api/sse/tasks", "task_id"),
		"/api/sse/tasks?task_id=42", "/api/sse/tasks?task_id=%zz", "/api/sse/tasks?task_id=a:b&task_id", "/api/sse/tasks?;task_id=1", "/api/sse/t%61sks?task_id=%0a")
}

func FuzzPrefix(f *testing.F) {
	fuzzMatcher(f, callback.Prefix("doc", "/api/sse/docs/"),
		"/api/sse/docs/a/b", "/api/sse/docs/", "/api/sse/docs%2Fa", "/api/sse/docs/a%3Ab", "/api/sse/docs/%zz", "/api/sse/docs/%ff%fe")
}
