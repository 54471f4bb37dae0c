// Package ident holds what every package of the module knows about
// identifiers of the form "kind:value", such as "task:42".
package ident

import "strings"

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
