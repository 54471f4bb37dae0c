//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gatewaytest

import (
	"context"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// The gateway's port must stay ours while it refuses connections, or another
// test process that listens on port 0 could get it. Every socket of ours on
// the port therefore sets SO_REUSEPORT, and a bound socket that does not
// listen holds the port while connections are refused: the kernel refuses a
// connection to a port where nothing listens (ECONNREFUSED), and does not
// give the port to a socket without SO_REUSEPORT while ours is bound. The
// holding socket must not set SO_REUSEADDR: a bound socket with it, that does
// not listen, does not keep another SO_REUSEADDR socket (every Go listener)
// off the port.

// listen listens on addr ("127.0.0.1:0" or a port held by a portHold).
func listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return setReuse(c)
	}}
	return lc.Listen(context.Background(), "tcp4", addr)
}

// setReuse sets SO_REUSEADDR and SO_REUSEPORT on c.
func setReuse(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); serr == nil {
			serr = reusePort(int(fd))
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// reusePort sets SO_REUSEPORT on fd.
func reusePort(fd int) error {
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	return nil
}

// A portHold is a TCP socket bound to a port on which it does not listen.
type portHold struct {
	fd   int
	addr string
}

// holdPort binds a socket to addr (an IPv4 host:port; port 0 picks a free
// port) without listening.
func holdPort(addr string) (*portHold, error) {
	ta, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	syscall.CloseOnExec(fd)
	sa := &syscall.SockaddrInet4{Port: ta.Port}
	copy(sa.Addr[:], ta.IP.To4())
	if err := reusePort(fd); err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	in4, ok := bound.(*syscall.SockaddrInet4)
	if !ok {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("getsockname: unexpected address %T", bound)
	}
	return &portHold{fd: fd, addr: net.JoinHostPort(net.IP(in4.Addr[:]).String(), fmt.Sprint(in4.Port))}, nil
}

// Addr returns the held host:port.
func (h *portHold) Addr() string { return h.addr }

// Close releases the port.
func (h *portHold) Close() error { return syscall.Close(h.fd) }
