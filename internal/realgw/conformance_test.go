package realgw_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/realgw"
	"github.com/ssegate/ssegate/internal/wire"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TestRealGatewayConformance drives one list of scenarios against the
// reference gateway and against gatewaytest of the same generation, and
// compares everything a browser and a backend can see: the browser's status,
// headers, body and events, the answers to /internal/send, and the
// disconnect callbacks. gatewaytest must not drift from the real thing.
func TestRealGatewayConformance(t *testing.T) {
	t.Parallel()
	realgw.Each(t, func(t *testing.T, dir string, gen int) {
		t.Parallel()
		var real, fake []scenarioTranscript
		var wg sync.WaitGroup
		wg.Go(func() {
			c := newConformer(t)
			gw := realgw.Start(t, dir, realgw.Config{CallbackURL: c.callbackURL()})
			real = c.run(t, gw.URL)
		})
		wg.Go(func() {
			c := newConformer(t)
			gw := gatewaytest.NewServer(c.callbackURL(), gatewaytest.WithGeneration(gen))
			t.Cleanup(gw.Close)
			fake = c.run(t, gw.URL)
		})
		wg.Wait()
		if len(real) != len(fake) {
			t.Fatalf("%d transcripts from the reference gateway, %d from gatewaytest", len(real), len(fake))
		}
		for i := range real {
			if diff := cmp.Diff(real[i], fake[i]); diff != "" {
				t.Errorf("scenario %s: gatewaytest differs from the reference gateway (-real +gatewaytest):\n%s", real[i].Name, diff)
			}
		}
	})
}

// tokenPlaceholder in a scripted send body is replaced by the stream's token.
const tokenPlaceholder = "TOKEN"

// scenario is one browser's visit, with the sends the backend makes.
type scenario struct {
	name string
	// path is the browser's URL; the backend answers its connect with the
	// status after "/status/", or 200.
	path string
	// during are send bodies the backend posts while the connect callback
	// runs; after are posted once the browser has seen the stream open.
	during, after []string
	// closeBrowser makes the browser go away after the sends of after, and
	// then posts afterClose.
	closeBrowser bool
	afterClose   []string
}

// scenarios are the conformance scenarios, each on its own URL.
var scenarios = []scenario{
	{name: "send_and_close", path: "/s/send", after: []string{
		`{"token":"TOKEN","event":{"name":"greeting","data":"{\"hello\":\"world\"}"}}`,
		`{"token":"TOKEN","event":{"data":"line one\nline two\n\nline four"}}`,
		`{"token":"TOKEN","event":{"name":"q\"b\\s\tt","data":"{}"}}`,
		`{"token":"TOKEN","event":{"data":"carriage\rreturn"}}`,
		`{"token":"TOKEN","event":{"name":"","data":"empty name"}}`,
		`{"token":"TOKEN"}`,
		`{"token":"TOKEN","event":{"name":"bye","data":"{}"},"close":true}`,
		`{"token":"TOKEN","event":{"data":"too late"}}`,
	}},
	{name: "control_names_and_lf", path: "/s/control", after: []string{
		`{"token":"TOKEN","event":{"name":"multi","data":"{\n\"a\": 1\n}"}}`,
		`{"token":"TOKEN","event":{"name":"ready","data":"again"}}`,
		`{"token":"TOKEN","event":{"name":"rejected","data":"{}\nrest"}}`,
		`{"token":"TOKEN","event":{"name":"a\nb","data":"1"}}`,
		`{"token":"TOKEN","close":true}`,
	}},
	{name: "close_only", path: "/s/close", after: []string{
		`{"token":"TOKEN","close":false}`,
		`{"token":"TOKEN","close":true}`,
	}},
	{name: "browser_closes", path: "/s/leave?x=1&y=%20", after: []string{
		`{"token":"TOKEN","event":{"data":"hello"}}`,
	}, closeBrowser: true, afterClose: []string{
		`{"token":"TOKEN","event":{"data":"gone"}}`,
	}},
	{name: "buffered", path: "/s/buffered", during: []string{
		`{"token":"TOKEN","event":{"name":"first","data":"1"}}`,
		`{"token":"TOKEN","event":{"data":"second"}}`,
	}, after: []string{
		`{"token":"TOKEN","close":true}`,
	}},
	{name: "buffered_close", path: "/s/buffered-close", during: []string{
		`{"token":"TOKEN","event":{"name":"last","data":"{}"},"close":true}`,
		`{"token":"TOKEN","event":{"data":"after the close"}}`,
	}},
	{name: "buffered_probe", path: "/s/buffered-probe", during: []string{
		`{"token":"TOKEN"}`,
	}, after: []string{
		`{"token":"TOKEN","close":true}`,
	}},
	{name: "invalid_sends", path: "/s/invalid", after: []string{
		`{}`,
		`{"token":""}`,
		`{"token":5}`,
		`{"token":"TOKEN","event":"x"}`,
		`{"token":"TOKEN","event":null}`,
		`{"token":"TOKEN","event":[]}`,
		`{"token":"TOKEN","event":{}}`,
		`{"token":"TOKEN","event":{"data":1}}`,
		`{"token":"TOKEN","event":{"data":null}}`,
		`{"token":"TOKEN","event":{"data":"x","name":5}}`,
		`{"token":"TOKEN","event":{"data":"x","name":null}}`,
		`{"token":"TOKEN","close":"yes"}`,
		`{"token":"TOKEN","close":null}`,
		`{"token":"TOKEN","close":1}`,
		`[]`,
		`null`,
		`{"token":`,
		`{"token":"00000000-0000-4000-8000-000000000000","event":{"data":"x"}}`,
		`{"token":"TOKEN","event":{"data":"` + strings.Repeat("x", wire.MaxBodyBytes) + `"}}`,
		`{"token":"TOKEN","close":true}`,
	}},
	{name: "reject_400", path: "/status/400"},
	{name: "reject_401", path: "/status/401"},
	{name: "reject_403", path: "/status/403"},
	{name: "reject_404", path: "/status/404"},
	{name: "reject_500", path: "/status/500"},
}

// sendAnswer is the gateway's answer to one /internal/send.
type sendAnswer struct {
	Status      int
	ContentType string
	Body        string
}

// scenarioTranscript is everything observable about one scenario.
type scenarioTranscript struct {
	Name string
	// CallbackURL is request.url of the connect callback.
	CallbackURL string
	Status      int
	Header      map[string]string // the SSE headers
	Body        string
	Events      []gatewaytest.Event
	During      []sendAnswer
	After       []sendAnswer
	AfterClose  []sendAnswer
	Disconnects []string
}

// conformer is the backend of the conformance scenarios.
type conformer struct {
	srv        *httptest.Server
	gatewayURL string
	byPath     map[string]scenario

	mu          sync.Mutex
	tokens      map[string]string // browser URL -> token
	urls        map[string]string // browser URL -> callback request.url
	during      map[string][]sendAnswer
	disconnects map[string][]string // token -> reasons
	changed     chan struct{}       // signalled on every callback
}

func newConformer(t *testing.T) *conformer {
	c := &conformer{
		byPath:      make(map[string]scenario),
		tokens:      make(map[string]string),
		urls:        make(map[string]string),
		during:      make(map[string][]sendAnswer),
		disconnects: make(map[string][]string),
		changed:     make(chan struct{}, 1),
	}
	for _, sc := range scenarios {
		c.byPath[sc.path] = sc
	}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *conformer) callbackURL() string { return c.srv.URL + callbackPath + "?secret=" + secret }

func (c *conformer) serve(w http.ResponseWriter, r *http.Request) {
	var cb wire.Callback
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cb); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer func() {
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}()
	if cb.Action == wire.ActionDisconnect {
		c.mu.Lock()
		c.disconnects[cb.Token] = append(c.disconnects[cb.Token], cb.Reason)
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
		return
	}
	c.mu.Lock()
	c.tokens[cb.Request.URL] = cb.Token
	c.urls[cb.Request.URL] = cb.Request.URL
	sc := c.byPath[cb.Request.URL]
	gatewayURL := c.gatewayURL
	c.mu.Unlock()
	var answers []sendAnswer
	for _, body := range sc.during {
		answers = append(answers, sendRaw(r.Context(), gatewayURL, strings.ReplaceAll(body, tokenPlaceholder, cb.Token)))
	}
	c.mu.Lock()
	c.during[cb.Request.URL] = answers
	c.mu.Unlock()
	if status, ok := strings.CutPrefix(cb.Request.URL, "/status/"); ok {
		var code int
		fmt.Sscan(status, &code)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, `{"error":"refused"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{}")
}

// run plays every scenario against the gateway at gatewayURL.
func (c *conformer) run(t *testing.T, gatewayURL string) []scenarioTranscript {
	c.mu.Lock()
	c.gatewayURL = gatewayURL
	c.mu.Unlock()
	var out []scenarioTranscript
	for _, sc := range scenarios {
		out = append(out, c.play(t, gatewayURL, sc))
	}
	return out
}

func (c *conformer) play(t *testing.T, gatewayURL string, sc scenario) scenarioTranscript {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := realgw.Open(ctx, gatewayURL+sc.path, nil)
	if err != nil {
		t.Fatalf("scenario %s: %v", sc.name, err)
	}
	defer st.Close()
	tr := scenarioTranscript{Name: sc.name, Status: st.StatusCode, Body: string(st.Body())}
	tr.Header = map[string]string{}
	for _, h := range []string{"Content-Type", "Cache-Control", "X-Accel-Buffering"} {
		tr.Header[h] = st.Header.Get(h)
	}
	c.mu.Lock()
	token, opened := c.tokens[sc.path]
	tr.CallbackURL = c.urls[sc.path]
	tr.During = c.during[sc.path]
	c.mu.Unlock()
	post := func(bodies []string) []sendAnswer {
		var answers []sendAnswer
		for _, body := range bodies {
			answers = append(answers, sendRaw(ctx, gatewayURL, strings.ReplaceAll(body, tokenPlaceholder, token)))
		}
		return answers
	}
	if st.IsEventStream() {
		tr.After = post(sc.after)
		if sc.closeBrowser {
			// Read what was sent, then go away.
			for range len(sc.after) + len(ready(genOf(tr))) {
				ev, err := st.Next(ctx)
				if err != nil {
					t.Fatalf("scenario %s: %v", sc.name, err)
				}
				tr.Events = append(tr.Events, ev)
			}
			st.Close()
			c.waitDisconnects(ctx, token, 1)
			tr.AfterClose = post(sc.afterClose)
		} else {
			evs, err := st.Events(ctx)
			if err != nil {
				t.Fatalf("scenario %s: after %v: %v", sc.name, evs, err)
			}
			tr.Events = append(tr.Events, evs...)
		}
	}
	if opened && st.IsEventStream() && !isRejected(tr.Events) {
		c.waitDisconnects(ctx, token, 1)
	}
	c.mu.Lock()
	tr.Disconnects = c.disconnects[token]
	c.mu.Unlock()
	return tr
}

// genOf guesses the generation from a transcript's first event.
func genOf(tr scenarioTranscript) int {
	if tr.Header["Content-Type"] == "text/event-stream" && len(tr.Events) > 0 && tr.Events[0].Name == "ready" {
		return 2
	}
	return 1
}

// isRejected reports whether evs are generation 2's in-stream rejection.
func isRejected(evs []gatewaytest.Event) bool {
	return len(evs) == 1 && evs[0].Name == "rejected"
}

// waitDisconnects waits until token has n disconnect callbacks or ctx ends.
func (c *conformer) waitDisconnects(ctx context.Context, token string, n int) {
	for {
		c.mu.Lock()
		got := len(c.disconnects[token])
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.changed:
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sendRaw posts body to the gateway's /internal/send.
func sendRaw(ctx context.Context, gatewayURL, body string) sendAnswer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL+wire.SendPath, bytes.NewReader([]byte(body)))
	if err != nil {
		return sendAnswer{Body: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return sendAnswer{Body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return sendAnswer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(b)}
}
