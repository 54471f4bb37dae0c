package gatewaytest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait of a test.
const testTimeout = 10 * time.Second

// testClient posts to gateways without keep-alive, so that no idle
// connection outlives a test.
var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}

// testCtx returns a context that ends with the test or after testTimeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// call is one callback a backend received.
type call struct {
	cb     wire.Callback
	raw    []byte
	header http.Header
	query  string
}

// backend is a fake backend: an httptest.Server that records callbacks and
// answers connects with its connect function (200 {} when nil).
type backend struct {
	*httptest.Server
	connect     func(w http.ResponseWriter, r *http.Request, cb wire.Callback)
	connects    chan call
	disconnects chan call
}

// newBackend starts a fake backend, closed at the end of the test (after
// any gateway created later in the test).
func newBackend(t testing.TB, connect func(w http.ResponseWriter, r *http.Request, cb wire.Callback)) *backend {
	t.Helper()
	b := &backend{connect: connect, connects: make(chan call, 100), disconnects: make(chan call, 100)}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var cb wire.Callback
	if err := json.Unmarshal(raw, &cb); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c := call{cb: cb, raw: raw, header: r.Header.Clone(), query: r.URL.RawQuery}
	switch cb.Action {
	case wire.ActionConnect:
		b.connects <- c
		if b.connect != nil {
			b.connect(w, r, cb)
			return
		}
	case wire.ActionDisconnect:
		b.disconnects <- c
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}")
}

// callbackURL is the backend's callback URL with a secret in the query.
func (b *backend) callbackURL() string { return b.URL + "/api/sse/callback?secret=s3cr3t" }

// next waits for the next call on ch.
func next(t *testing.T, ch <-chan call, what string) call {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(testTimeout):
		t.Fatalf("no %s callback within %v", what, testTimeout)
		return call{}
	}
}

// newGateway starts a gateway closed at the end of the test.
func newGateway(t testing.TB, callbackURL string, opts ...gatewaytest.Option) *gatewaytest.Server {
	t.Helper()
	gw := gatewaytest.NewServer(callbackURL, opts...)
	t.Cleanup(gw.Close)
	return gw
}

// connect opens a stream that is closed at the end of the test.
func connect(t *testing.T, gw *gatewaytest.Server, path string, header http.Header) *gatewaytest.Stream {
	t.Helper()
	st, err := gw.Connect(testCtx(t), path, header)
	if err != nil {
		t.Fatalf("Connect(%q): %v", path, err)
	}
	t.Cleanup(st.Close)
	return st
}

// openStream connects and, under generation 2, reads the ready event.
func openStream(t *testing.T, gw *gatewaytest.Server, gen int, path string) *gatewaytest.Stream {
	t.Helper()
	st := connect(t, gw, path, nil)
	if st.StatusCode != http.StatusOK {
		t.Fatalf("Connect(%q) status = %d, want 200; body %s", path, st.StatusCode, st.Body())
	}
	if gen == 2 {
		ev := nextEvent(t, st)
		if diff := cmp.Diff(gatewaytest.Event{Name: "ready"}, ev); diff != "" {
			t.Fatalf("first event (-want +got):\n%s", diff)
		}
	}
	return st
}

// nextEvent returns the next event of st, failing the test on error.
func nextEvent(t *testing.T, st *gatewaytest.Stream) gatewaytest.Event {
	t.Helper()
	ev, err := st.Next(testCtx(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

// readAll returns every remaining event of st until io.EOF.
func readAll(t *testing.T, st *gatewaytest.Stream) []gatewaytest.Event {
	t.Helper()
	ctx := testCtx(t)
	var evs []gatewaytest.Event
	for {
		ev, err := st.Next(ctx)
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
}

// answer is a gateway's HTTP answer.
type answer struct {
	Status      int
	ContentType string
	Body        string
}

// post POSTs body to url.
func post(t *testing.T, url, contentType, body string) answer {
	t.Helper()
	a, err := tryPost(testCtx(t), url, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryPost POSTs body to url. Unlike post, it may be called from any
// goroutine.
func tryPost(ctx context.Context, url, contentType, body string) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("POST %s: read body: %w", url, err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}, nil
}

// trySend is send for any goroutine, such as a backend's handler.
func trySend(ctx context.Context, gw *gatewaytest.Server, req wire.SendRequest) (answer, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return answer{}, err
	}
	return tryPost(ctx, gw.URL+wire.SendPath, "application/json", string(b))
}

// get GETs url.
func get(t *testing.T, url string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// send POSTs a JSON body to the gateway's /internal/send.
func send(t *testing.T, gw *gatewaytest.Server, body string) answer {
	t.Helper()
	return post(t, gw.URL+wire.SendPath, "application/json", body)
}

// sendBody encodes a send request.
func sendBody(t *testing.T, token string, ev *wire.Event, closeStream bool) string {
	t.Helper()
	b, err := json.Marshal(wire.SendRequest{Token: token, Event: ev, Close: closeStream})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Answers of /internal/send.
const (
	jsonCT     = "application/json; charset=utf-8"
	htmlCT     = "text/html; charset=utf-8"
	okBody     = `{"status":"ok"}`
	bufferedOK = `{"status":"buffered"}`
)

// errorBody is the gateway's JSON error body.
func errorBody(code, message string) string {
	return `{"error":{"message":"` + message + `","code":"` + code + `"}}`
}

// sendOK sends and requires 200 {"status":"ok"}.
func sendOK(t *testing.T, gw *gatewaytest.Server, token string, ev *wire.Event, closeStream bool) {
	t.Helper()
	got := send(t, gw, sendBody(t, token, ev, closeStream))
	if diff := cmp.Diff(answer{200, jsonCT, okBody}, got); diff != "" {
		t.Fatalf("send answer (-want +got):\n%s", diff)
	}
}

// doneHook installs the stream-done hook and returns its channel.
func doneHook(gw *gatewaytest.Server) <-chan string {
	ch := make(chan string, 100)
	gatewaytest.SetStreamDoneHook(gw, func(token string) { ch <- token })
	return ch
}

// waitDone waits until the stream handler of token has returned.
func waitDone(t *testing.T, ch <-chan string, token string) {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case got := <-ch:
			if got == token {
				return
			}
		case <-timeout:
			t.Fatalf("stream handler of %s did not return within %v", token, testTimeout)
		}
	}
}

// noDisconnects closes gw (which waits for disconnect callbacks under way)
// and requires that b received none.
func noDisconnects(t *testing.T, gw *gatewaytest.Server, b *backend) {
	t.Helper()
	gw.Close()
	select {
	case c := <-b.disconnects:
		t.Fatalf("unexpected disconnect callback %+v", c.cb)
	default:
	}
}

// jsonUnmarshal decodes s into v.
func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// bufioReader wraps r.
func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }
