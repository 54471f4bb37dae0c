//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gatewaytest

import (
	"errors"
	"net"
)

// listen listens on addr. On this platform the port is not held while the
// gateway refuses connections: another process may take it in between.
func listen(addr string) (net.Listener, error) { return net.Listen("tcp4", addr) }

// A portHold would hold a port; this platform cannot.
type portHold struct{}

// holdPort is not supported on this platform.
func holdPort(string) (*portHold, error) {
	return nil, errors.New("gatewaytest: holding a port is not supported on this platform")
}

// Addr returns "".
func (*portHold) Addr() string { return "" }

// Close does nothing.
func (*portHold) Close() error { return nil }
