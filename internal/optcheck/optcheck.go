// Package optcheck collects the problems found while a constructor applies
// its options, so that it can report them all at once, joined, each
// wrapping the package's sentinel error.
//
// The rules it helps apply are the module's: zero means the default, and a
// negative or otherwise impossible value is an error.
package optcheck

import (
	"errors"
	"fmt"
)

// Problems is the list of problems found so far. The zero value is empty
// and ready to use.
type Problems []error

// Addf records a problem with option, for example
// p.Addf("WithSendTimeout", "negative duration %v", d).
func (p *Problems) Addf(option, format string, args ...any) {
	*p = append(*p, fmt.Errorf(option+": "+format, args...))
}

// Add records err, a problem that names what it is about.
func (p *Problems) Add(err error) { *p = append(*p, err) }

// Err returns nil without problems, and otherwise the problems joined with
// [errors.Join], each wrapping sentinel: "<sentinel>: <problem>".
func (p Problems) Err(sentinel error) error {
	if len(p) == 0 {
		return nil
	}
	errs := make([]error, len(p))
	for i, e := range p {
		errs[i] = fmt.Errorf("%w: %w", sentinel, e)
	}
	return errors.Join(errs...)
}

// Set stores v in *dst if it is positive. Zero leaves *dst, the default,
// alone; a negative v is recorded as a problem with option.
func Set[T ~int | ~int64](p *Problems, option string, dst *T, v T) {
	switch {
	case v > 0:
		*dst = v
	case v < 0:
		p.Addf(option, "negative value %v", v)
	}
}
