// Package ident holds what every package of the module knows about
// identifiers of the form "kind:value", such as "task:42".
package ident

import (
	"errors"
	"fmt"
	"strings"
)

// Unknown is the kind of an identifier that has none.
const Unknown = "unknown"

// Kind returns the part of identifier before the first ':', for example
// "task" for "task:42". An identifier without ':' or with nothing before it
// has kind [Unknown]. Metrics and logs carry the kind, never the
// identifier, so that their cardinality stays bounded and no user's
// identifier leaks into them.
func Kind(identifier string) string {
	if i := strings.IndexByte(identifier, ':'); i > 0 {
		return identifier[:i]
	}
	return Unknown
}

// MaxRequestIDLen bounds a browser's request id (version and tab streams).
const MaxRequestIDLen = 256

// CheckRequestID reports what is wrong with a browser's request id, or nil:
// it must be 1 to MaxRequestIDLen bytes, without ':' (it ends an
// identifier such as "version:<request_id>") and without control
// characters. Callers wrap the error in their own sentinel.
func CheckRequestID(rid string) error {
	switch {
	case rid == "":
		return errors.New("empty")
	case len(rid) > MaxRequestIDLen:
		return fmt.Errorf("longer than %d bytes", MaxRequestIDLen)
	case strings.Contains(rid, ":"):
		return errors.New("contains ':'")
	case strings.ContainsFunc(rid, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("contains a control character")
	}
	return nil
}
