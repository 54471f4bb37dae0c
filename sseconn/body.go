package sseconn

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// pooledBodyMin is the body size from which sends through the default doer
// encode into a pooled buffer: for large events, allocating (and zeroing,
// and collecting) a fresh buffer per send costs more than the send's other
// work.
const pooledBodyMin = 2 << 10

// maxPooledBody is the largest buffer kept for reuse.
const maxPooledBody = 128 << 10

// pooledBody is a request body in a buffer that goes back to bodyPool once
// nobody can read it any more: the send that made it has read the answer,
// and every reader handed to go-retryablehttp and net/http has been closed.
// net/http may close a request body from another goroutine while its write
// loop still reads it, so a reader marks itself closed and leaves the
// release to a read in progress.
type pooledBody struct {
	buf  []byte
	refs atomic.Int32 // the send's reference plus open readers
}

var bodyPool = sync.Pool{New: func() any { return new(pooledBody) }}

// getPooledBody returns a pooled body with room for n bytes and one
// reference, the caller's.
func getPooledBody(n int) *pooledBody {
	pb := bodyPool.Get().(*pooledBody)
	if cap(pb.buf) < n {
		pb.buf = make([]byte, 0, n)
	}
	pb.buf = pb.buf[:0]
	pb.refs.Store(1)
	return pb
}

// release drops one reference; the last one puts the buffer back.
func (pb *pooledBody) release() {
	if pb.refs.Add(-1) == 0 && cap(pb.buf) <= maxPooledBody {
		bodyPool.Put(pb)
	}
}

// readCloser returns a fresh reader of the body, holding a reference until
// it is closed.
func (pb *pooledBody) readCloser() io.ReadCloser {
	pb.refs.Add(1)
	return &pooledReader{body: pb, buf: pb.buf}
}

// getBody is the request's GetBody: a fresh reader per attempt.
func (pb *pooledBody) getBody() (io.ReadCloser, error) { return pb.readCloser(), nil }

// errBodyClosed is what a pooledReader returns once closed.
var errBodyClosed = errors.New("sseconn: request body closed")

// pooledReader reads a pooledBody. It is an io.ReadCloser, an io.WriterTo
// (net/http then writes a large body in one piece, as it does a
// bytes.Reader) and has the Len that go-retryablehttp takes the
// Content-Length from.
type pooledReader struct {
	mu     sync.Mutex
	body   *pooledBody
	buf    []byte // the unread rest
	busy   bool   // a WriteTo is writing from buf
	closed bool
}

// Len returns the number of unread bytes.
func (r *pooledReader) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf)
}

// Read implements io.Reader.
func (r *pooledReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errBodyClosed
	}
	if len(r.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// WriteTo implements io.WriterTo. It writes without holding the lock, so
// that a Close meanwhile does not wait for the network; the release is then
// left to WriteTo.
func (r *pooledReader) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, errBodyClosed
	}
	chunk := r.buf
	r.buf = nil
	r.busy = true
	r.mu.Unlock()

	n, err := w.Write(chunk)

	r.mu.Lock()
	r.busy = false
	if r.closed {
		r.body.release() // Close left it to us
		if err == nil {
			err = errBodyClosed
		}
	} else if n < len(chunk) {
		r.buf = chunk[n:]
	}
	r.mu.Unlock()
	if err == nil && n < len(chunk) {
		err = io.ErrShortWrite
	}
	return int64(n), err
}

// Close implements io.Closer. Only the first call counts.
func (r *pooledReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.buf = nil
	if !r.busy {
		r.body.release()
	}
	return nil
}
