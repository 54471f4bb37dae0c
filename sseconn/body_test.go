package sseconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestPooledBodyReleasedOnce(t *testing.T) {
	pb := getPooledBody(8)
	pb.buf = append(pb.buf, "abcdefgh"...)
	r1, _ := pb.getBody()
	r2, _ := pb.getBody()
	var out bytes.Buffer
	if _, err := r1.(io.WriterTo).WriteTo(&out); err != nil || out.String() != "abcdefgh" {
		t.Fatalf("WriteTo = %q, %v", out.String(), err)
	}
	if got, err := io.ReadAll(r2); err != nil || string(got) != "abcdefgh" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	for _, r := range []io.Reader{r1, r2, r1} { // the second Close of r1 does not count
		r.(io.Closer).Close()
	}
	if got := pb.refs.Load(); got != 1 {
		t.Fatalf("refs = %d after closing every reader, want 1 (the sender's)", got)
	}
	if _, err := r2.Read(make([]byte, 1)); !errors.Is(err, errBodyClosed) {
		t.Errorf("Read after Close: err = %v, want errBodyClosed", err)
	}
	pb.release()
	if got := pb.refs.Load(); got != 0 {
		t.Errorf("refs = %d after the last release, want 0", got)
	}
}

// blockingWriter blocks each Write until release is closed.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	close(w.started)
	<-w.release
	return len(p), nil
}

// TestPooledBodyCloseDuringWrite checks that a Close while WriteTo writes
// leaves the release to WriteTo, so the buffer is not reused under it.
func TestPooledBodyCloseDuringWrite(t *testing.T) {
	pb := getPooledBody(4)
	pb.buf = append(pb.buf, "data"...)
	r, _ := pb.getBody()
	pb.release() // the sender is done: only the reader holds the body
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() {
		_, err := r.(io.WriterTo).WriteTo(w)
		done <- err
	}()
	<-w.started
	r.(io.Closer).Close()
	if got := pb.refs.Load(); got != 1 {
		t.Errorf("refs = %d after Close during a write, want 1 (kept for the write)", got)
	}
	close(w.release)
	if err := <-done; !errors.Is(err, errBodyClosed) {
		t.Errorf("WriteTo: err = %v, want errBodyClosed", err)
	}
	if got := pb.refs.Load(); got != 0 {
		t.Errorf("refs = %d after the write ended, want 0", got)
	}
}

// TestPooledBodyEarlyAnswer sends large events, whose bodies are pooled, to
// a server that answers 413 before reading them, concurrently. Under -race
// it shows that no buffer is reused while net/http still writes it.
func TestPooledBodyEarlyAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		http.Error(w, "<html>too large</html>", http.StatusRequestEntityTooLarge)
	}))
	t.Cleanup(srv.Close)
	m, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	ev := Event{Name: "big", Data: `"` + strings.Repeat("x", 64<<10) + `"`}
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := 0
	for i := range 8 {
		id := "task:" + string(rune('a'+i))
		if err := m.Register(context.Background(), id, "tok-"+id); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range 10 {
				err := m.Send(context.Background(), id, ev)
				// The answer, or a connection reset by the closing
				// server while the body was being written.
				var ge *GatewayError
				switch {
				case errors.As(err, &ge) && ge.StatusCode == http.StatusRequestEntityTooLarge:
					mu.Lock()
					answered++
					mu.Unlock()
				case err == nil || !strings.Contains(err.Error(), "post:"):
					t.Errorf("Send: err = %v, want a 413 GatewayError or a transport error", err)
				}
			}
		})
	}
	wg.Wait()
	if answered == 0 {
		t.Error("no send got the 413 answer")
	}
}
