package realgw_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

const (
	secret       = "s3cr3t-realgw"
	callbackPath = "/api/sse/callback"
	usersPath    = "/api/sse/users/"
	// waitTimeout bounds every wait for something the gateway or the
	// browser does.
	waitTimeout = 10 * time.Second
)

// disconnect is one disconnect callback the backend received.
type disconnect struct {
	Identifier string
	Token      string
	Reason     string
}

// users is the callback.Service of /api/sse/users/{id}: it registers each
// stream with the manager and refuses the id "forbidden" with a 403.
type users struct {
	mgr   *sseconn.Manager
	discs chan disconnect
}

func (u *users) Connect(ctx context.Context, req *callback.Request) (*callback.ConnectResponse, error) {
	if req.Params["id"] == "forbidden" {
		return nil, callback.Reject(http.StatusForbidden, "forbidden")
	}
	return nil, u.mgr.Register(ctx, req.Identifier, req.Token)
}

func (u *users) Disconnect(_ context.Context, req *callback.Request) error {
	u.mgr.Unregister(req.Token)
	u.discs <- disconnect{Identifier: req.Identifier, Token: req.Token, Reason: req.Reason}
	return nil
}

// backend is the application behind a real gateway: a callback handler with
// the users, task and version routes, and the manager they share.
type backend struct {
	gen      int
	gw       *realgw.Gateway
	px       *realgw.Proxy // nil unless backendConfig.proxy
	srv      *httptest.Server
	mgr      *sseconn.Manager
	users    *users
	runner   *task.Runner
	notifier *version.Notifier
}

// backendConfig adjusts newBackend.
type backendConfig struct {
	// callbackQuery replaces "?secret=<secret>" in CALLBACK_URL.
	callbackQuery *string
	// proxy puts a realgw.Proxy between the manager and the gateway.
	proxy   bool
	mgrOpts []sseconn.Option
}

// newBackend starts a callback backend and a gateway of dir's generation
// whose CALLBACK_URL points at it.
func newBackend(t *testing.T, dir string, gen int, cfg backendConfig) *backend {
	t.Helper()
	var h atomic.Pointer[callback.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != callbackPath {
			http.NotFound(w, r)
			return
		}
		h.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	query := "?secret=" + secret
	if cfg.callbackQuery != nil {
		query = *cfg.callbackQuery
	}
	gw := realgw.Start(t, dir, realgw.Config{CallbackURL: srv.URL + callbackPath + query})
	sendURL := gw.URL
	var px *realgw.Proxy
	if cfg.proxy {
		px = realgw.NewProxy(t, strings.TrimPrefix(gw.URL, "http://"))
		sendURL = px.URL
	}
	mgr, err := sseconn.New(sendURL, cfg.mgrOpts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, mgr.Shutdown) })
	u := &users{mgr: mgr, discs: make(chan disconnect, 256)}
	runner, err := task.New(mgr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, runner.Shutdown) })
	notifier, err := version.New(mgr, version.Static{Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	handler, err := callback.NewHandler(
		callback.WithSecret(secret),
		callback.WithRoute(callback.Path("user", usersPath+"{id}"), u),
		callback.WithRoute(runner.Matcher(), runner),
		callback.WithRoute(notifier.Matcher(), notifier),
	)
	if err != nil {
		t.Fatal(err)
	}
	h.Store(handler)
	return &backend{gen: gen, gw: gw, px: px, srv: srv, mgr: mgr, users: u, runner: runner, notifier: notifier}
}

// shutdown calls f with a bounded context, failing t on error.
func shutdown(t *testing.T, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// open opens a browser stream on path and fails t unless it is a 200 event
// stream. The stream is closed when the test ends.
func (b *backend) open(t *testing.T, path string) *realgw.Stream {
	t.Helper()
	st := openAny(t, b.gw.URL+path)
	if !st.IsEventStream() {
		t.Fatalf("GET %s: %d %s", path, st.StatusCode, st.Body())
	}
	return st
}

// openAny opens a browser stream on url, whatever the answer.
func openAny(t *testing.T, url string) *realgw.Stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := realgw.Open(ctx, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); cancel() })
	return st
}

// next reads n events from st.
func next(t *testing.T, st *realgw.Stream, n int) []gatewaytest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	evs := make([]gatewaytest.Event, 0, n)
	for range n {
		ev, err := st.Next(ctx)
		if err != nil {
			t.Fatalf("after %d events %v: %v", len(evs), evs, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// rest reads st until it ends.
func rest(t *testing.T, st *realgw.Stream) []gatewaytest.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	evs, err := st.Events(ctx)
	if err != nil {
		t.Fatalf("after %d events %v: %v", len(evs), evs, err)
	}
	return evs
}

// expectEvents reads len(want) events from st and compares them.
func expectEvents(t *testing.T, st *realgw.Stream, want ...gatewaytest.Event) {
	t.Helper()
	if diff := cmp.Diff(want, next(t, st, len(want)), cmpEmpty); diff != "" {
		t.Fatalf("browser events (-want +got):\n%s", diff)
	}
}

// expectEnd reads st to its end and compares the events before it.
func expectEnd(t *testing.T, st *realgw.Stream, want ...gatewaytest.Event) {
	t.Helper()
	got := rest(t, st)
	if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
		t.Fatalf("browser events up to the end (-want +got):\n%s", diff)
	}
}

// cmpEmpty makes a nil and an empty slice of events equal.
var cmpEmpty = cmpopts.EquateEmpty()

// ready returns the control events a generation's browser gets once its
// stream is set up: generation 2's "ready", nothing in generation 1.
func ready(gen int) []gatewaytest.Event {
	if gen >= 2 {
		return []gatewaytest.Event{{Name: "ready"}}
	}
	return nil
}

// framed returns what a browser of generation gen receives for ev: generation
// 2 wraps a named event in the envelope {"type":name,"payload":data}.
func framed(gen int, ev sseconn.Event) gatewaytest.Event {
	if gen >= 2 && ev.Name != "" {
		return gatewaytest.Event{Data: `{"type":"` + ev.Name + `","payload":` + ev.Data + `}`}
	}
	return gatewaytest.Event{Name: ev.Name, Data: ev.Data}
}

// waitDisconnect waits for the next disconnect callback of identifier,
// skipping those of other identifiers.
func (b *backend) waitDisconnect(t *testing.T, identifier string) disconnect {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		select {
		case d := <-b.users.discs:
			if d.Identifier == identifier {
				return d
			}
		case <-timeout:
			t.Fatalf("no disconnect callback for %s", identifier)
			return disconnect{}
		}
	}
}

// rejection returns what a browser of generation gen sees when the backend
// answers its connect with status: generation 1 gets that status with a JSON
// error, generation 2 a stream with one "rejected" event.
func rejection(gen, status int) transcript {
	if gen >= 2 {
		return transcript{Status: 200, Events: []gatewaytest.Event{{Name: "rejected",
			Data: fmt.Sprintf(`{"status":%d,"message":%q}`, status, http.StatusText(status))}}}
	}
	code := map[int]string{401: "BACKEND_AUTH_FAILED", 403: "BACKEND_FORBIDDEN"}[status]
	if code == "" {
		code = "BACKEND_ERROR"
	}
	return transcript{Status: status, Body: fmt.Sprintf(`{"error":{"message":"Backend returned %d","code":%q}}`, status, code)}
}

// transcript is what a browser saw of one GET: the status, the body of an
// answer that is not a stream, and the events of a stream up to its end.
type transcript struct {
	Status int
	Body   string
	Events []gatewaytest.Event
}

// record reads st to its end into a transcript.
func record(t *testing.T, st *realgw.Stream) transcript {
	t.Helper()
	tr := transcript{Status: st.StatusCode, Body: string(st.Body())}
	if st.IsEventStream() {
		tr.Events = rest(t, st)
	}
	return tr
}

// decode unmarshals data into a value of type T, failing t.
func decode[T any](t *testing.T, data string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return v
}
