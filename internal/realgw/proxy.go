package realgw

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP proxy on loopback that counts the connections a client
// opens to a server, and widens the race between a server that closes an
// idle keep-alive connection and a client that writes a request onto it.
//
// When the server closes a connection, the proxy does not pass the close on:
// the client's end stays open, as if the server's FIN were still in flight.
// A request the client then writes on that connection is dropped, and the
// client's end is reset, which is what the client gets when its request
// crosses the server's FIN: EOF or ECONNRESET, with the request never served.
// A client that never reuses a connection after the server may have closed it
// (one whose idle timeout is below the server's) is not affected.
type Proxy struct {
	// URL is the proxy's base URL, "http://" and its address.
	URL string

	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex // guards conns and closed
	conns  map[net.Conn]struct{}
	closed chan struct{} // receives one value per connection that ended

	opened atomic.Int64
	lost   atomic.Int64
}

// NewProxy starts a proxy to target ("host:port"). It is closed when the test
// ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("realgw: proxy: %v", err)
	}
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		target: target,
		ln:     ln,
		conns:  make(map[net.Conn]struct{}),
		closed: make(chan struct{}, 1<<16),
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Opened returns the number of connections clients have opened so far.
func (p *Proxy) Opened() int { return int(p.opened.Load()) }

// Lost returns the number of connections on which a client wrote after the
// server had closed them: each such write is a request the server never saw
// and the client got an error for.
func (p *Proxy) Lost() int { return int(p.lost.Load()) }

// WaitEnded waits until n connections have ended, closed by the server (even
// though the proxy keeps the client's end open) or by the client, or ctx is
// done.
func (p *Proxy) WaitEnded(ctx context.Context, n int) error {
	for range n {
		select {
		case <-p.closed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.opened.Add(1)
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve proxies one connection.
func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		p.closed <- struct{}{}
		return
	}
	if !p.track(c, u) {
		return
	}
	defer p.untrack(c, u)
	upDone := make(chan struct{})
	go func() {
		// Server to client. When the server closes, the client is not told.
		_, _ = io.Copy(c, u)
		close(upDone)
		p.closed <- struct{}{}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			select {
			case <-upDone:
				p.reset(c, u, upDone)
				return
			default:
			}
			if _, werr := u.Write(buf[:n]); werr != nil {
				p.reset(c, u, upDone)
				return
			}
		}
		if err != nil { // the client closed, or the proxy is closing
			u.Close()
			<-upDone
			c.Close()
			return
		}
	}
}

// reset drops a request written after the server closed: the client's end
// is reset (RST), as the server's kernel would do.
func (p *Proxy) reset(c, u net.Conn, upDone <-chan struct{}) {
	p.lost.Add(1)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
	u.Close()
	<-upDone
}

// track records c and u for close; it reports false when the proxy is
// already closed.
func (p *Proxy) track(c, u net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		c.Close()
		u.Close()
		return false
	}
	p.conns[c] = struct{}{}
	p.conns[u] = struct{}{}
	return true
}

func (p *Proxy) untrack(c, u net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	delete(p.conns, u)
}

// close stops the proxy and waits for its goroutines.
func (p *Proxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
