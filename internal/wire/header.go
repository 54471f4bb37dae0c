package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// HeaderValue is the value of one forwarded browser header. The gateway sends
// a single string for most headers and an array of strings for a repeated
// header such as set-cookie; both decode into a HeaderValue.
type HeaderValue []string

// UnmarshalJSON accepts a JSON string or an array of JSON strings. JSON null
// decodes to an empty value. Anything else is an error.
func (v *HeaderValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return errors.New("wire: empty header value")
	case b[0] == 'n':
		if string(b) != "null" {
			return errors.New("wire: header value must be a string or an array of strings")
		}
		*v = nil
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = HeaderValue{s}
		return nil
	case b[0] == '[':
		var ss []string
		if err := json.Unmarshal(b, &ss); err != nil {
			return errors.New("wire: header value array must hold only strings")
		}
		*v = HeaderValue(ss)
		return nil
	default:
		return errors.New("wire: header value must be a string or an array of strings")
	}
}

// MarshalJSON encodes a single value as a string and several values as an
// array, as the gateway does.
func (v HeaderValue) MarshalJSON() ([]byte, error) {
	if len(v) == 1 {
		return json.Marshal(v[0])
	}
	if v == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]string(v))
}

// Headers are the browser's headers as the gateway forwards them: lower-cased
// names mapped to one or more values.
type Headers map[string]HeaderValue

// Get returns the first value of the named header, or "". The name is
// matched case-insensitively.
func (h Headers) Get(name string) string {
	if v := h.Values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of the named header. The name is matched
// case-insensitively.
func (h Headers) Values(name string) []string {
	if v, ok := h[name]; ok {
		return v
	}
	if v, ok := h[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// HTTPHeader converts h to an http.Header with canonical names. The result
// shares no memory with h.
func (h Headers) HTTPHeader() http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], v...)
	}
	return out
}

// FromHTTPHeader converts an http.Header to the gateway's form: lower-cased
// names, a single string for one value, an array for several.
func FromHTTPHeader(h http.Header) Headers {
	out := make(Headers, len(h))
	for k, v := range h {
		lk := strings.ToLower(k)
		out[lk] = append(out[lk], v...)
	}
	return out
}
