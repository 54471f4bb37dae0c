package gatewaytest

import "testing"

// SetStreamDoneHook makes s call f(token) whenever the handler of a stream
// request returns, after the gateway's last decision about that connection
// (any disconnect callback has been started or lost by then). Tests use it
// to wait for the gateway to finish with a connection before asserting that
// something did not happen.
func SetStreamDoneHook(s *Server, f func(token string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamDone = f
}

// RefusedURL returns an http URL on 127.0.0.1 whose port is bound, so that
// nobody else gets it, but does not listen, so that connections are
// refused, until the end of the test.
func RefusedURL(t testing.TB) string {
	t.Helper()
	h, err := holdPort("127.0.0.1:0")
	if err != nil {
		t.Skipf("cannot hold a port: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return "http://" + h.Addr() + "/callback"
}
