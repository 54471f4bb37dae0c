package version

import "context"

// Source yields the current version. The [Notifier] asks it on connect when
// nothing is pending for the browser's request id.
//
// Current must honour ctx and be safe for concurrent use. Its error is never
// shown to the browser verbatim: the notifier sends an unknown-version event
// with a short reason instead (see the package documentation).
type Source interface {
	Current(ctx context.Context) (Info, error)
}

// SourceFunc adapts a function to [Source].
type SourceFunc func(ctx context.Context) (Info, error)

// Current calls f(ctx).
func (f SourceFunc) Current(ctx context.Context) (Info, error) { return f(ctx) }

// Static is a [Source] that always yields the same version, for example one
// set at build time with -ldflags.
type Static Info

// Current returns Info(s). It fails with [ErrInvalidInfo] when s.Version is
// empty.
func (s Static) Current(context.Context) (Info, error) {
	info := Info(s)
	if err := info.validate(); err != nil {
		return Info{}, err
	}
	return info, nil
}

var (
	_ Source = Static{}
	_ Source = SourceFunc(nil)
	_ Source = (*HTTPSource)(nil)
)
