// Package routecheck checks at start-up that a route's matcher recognizes
// the stream URLs its adapter hands out, so that a wrong matcher fails in
// New instead of answering every connect 500.
package routecheck

import (
	"fmt"
	"net/url"

	"github.com/ssegate/ssegate/callback"
)

// Check reports whether m maps raw, a stream URL the adapter builds, to the
// identifier want.
func Check(raw string, m callback.Matcher, want string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("route: stream URL %q does not parse: %w", raw, err)
	}
	got, ok, err := m.Match(u)
	switch {
	case err != nil:
		return fmt.Errorf("route: matcher refuses stream URL %q: %w", raw, err)
	case !ok:
		return fmt.Errorf("route: matcher does not match stream URL %q", raw)
	case got.Identifier != want:
		return fmt.Errorf("route: matcher maps stream URL %q to %q, want %q", raw, got.Identifier, want)
	}
	return nil
}
