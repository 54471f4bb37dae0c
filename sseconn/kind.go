package sseconn

import (
	"strings"

	"github.com/ssegate/ssegate/internal/ident"
)

// Kind returns the part of identifier before the first ':', for example
// "task" for "task:42". An identifier without ':' or with nothing before it
// has kind "unknown". Metrics carry the kind, never the identifier, so that
// their cardinality stays bounded; every package of the module computes it
// the same way.
func Kind(identifier string) string { return ident.Kind(identifier) }

// HasPrefix returns a filter for [Manager.Broadcast] that selects the
// identifiers starting with prefix, for example HasPrefix("version:").
func HasPrefix(prefix string) func(identifier string) bool {
	return func(identifier string) bool { return strings.HasPrefix(identifier, prefix) }
}
