// Command version shows version notifications over a callback-style SSE
// gateway: the page shows the version it runs, and a "new version available"
// banner as soon as one is published.
//
//	go run ./examples/version            # then open the URL it prints
//	go run ./examples/version -headless  # connect, publish, print, exit
//
// The current version comes from version.json, which this backend serves
// itself (a real one would read it from its CDN with -version-url). Publishing
// a version, POST /api/version with {"version":"…","changelog":"…"}, stands
// for a deploy: it updates version.json and broadcasts the new version to every
// connected page. Like examples/tasks, it starts an in-process gateway unless
// -gateway (or $SSE_GATEWAY_URL) names a real one.
//
// The backend serves:
//
//	POST /api/sse/callback  the gateway's connect and disconnect callbacks
//	GET  /version.json      the current version
//	POST /api/version       publish a version and broadcast it
//	GET  /api/config        where the page opens its stream
//	GET  /                  the page (embedded, no external assets)
package main

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/examples/internal/demo"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/version"
)

//go:embed static
var static embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "version:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	demo       demo.Config
	headless   bool
	current    version.Info // the version served at start
	publish    version.Info // the version -headless publishes
	versionURL string
	verbose    bool
}

func parseFlags(args []string, stdout io.Writer) (options, error) {
	var o options
	flags := flag.NewFlagSet("version", flag.ContinueOnError)
	flags.SetOutput(stdout)
	o.demo.AddFlags(flags, &o.verbose)
	flags.BoolVar(&o.headless, "headless", false, "connect, publish -publish, print both events and exit")
	flags.StringVar(&o.current.Version, "version", "1.0.0", "the version served at start")
	flags.StringVar(&o.publish.Version, "publish", "1.1.0", "the version that -headless publishes")
	flags.StringVar(&o.publish.Changelog, "changelog", "Faster start-up", "the changelog that -headless publishes")
	flags.StringVar(&o.versionURL, "version-url", "",
		"read the current version from this version.json `URL` instead of the one this backend serves")
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	if flags.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", flags.Args())
	}
	if o.current.Version == "" || o.publish.Version == "" {
		return o, errors.New("-version and -publish must not be empty")
	}
	o.demo.Parsed(flags)
	return o, nil
}

// run runs the backend until ctx is done, or, with -headless, until it has
// shown a broadcast. It then shuts everything down in order.
func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	logger := demo.Logger(o.verbose)

	env, err := demo.Start(o.demo)
	if err != nil {
		return err
	}
	defer env.Close() // last: the gateway outlives everything that talks to it

	a := &app{current: o.current}
	if o.versionURL == "" {
		o.versionURL = env.BackendURL + "/version.json"
	}
	// The Source the notifier asks on connect. A deployment reads the
	// version.json of its static assets; the cache (10 s by default) is
	// turned off here so that the demo's publications show at once.
	fetcher := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer fetcher.CloseIdleConnections()
	src, err := version.NewHTTPSource(o.versionURL, version.WithSourceDoer(fetcher), version.WithoutSourceCache())
	if err != nil {
		env.Listener.Close()
		return err
	}
	conns, err := sseconn.New(env.GatewayURL,
		sseconn.WithLogger(logger),
		sseconn.WithSweepInterval(time.Minute), // drop streams whose disconnect was lost
	)
	if err != nil {
		env.Listener.Close()
		return err
	}
	notifier, err := version.New(conns, src, version.WithLogger(logger))
	if err != nil {
		env.Listener.Close()
		return errors.Join(err, conns.Shutdown(context.Background()))
	}
	cb, err := callback.NewHandler(
		callback.WithSecret(env.Secret),
		callback.WithRoute(notifier.Matcher(), notifier),
		callback.WithLogger(logger),
	)
	if err != nil {
		env.Listener.Close()
		return errors.Join(err, conns.Shutdown(context.Background()))
	}
	a.notifier = notifier
	a.config = pageConfig{StreamURL: env.PublicGatewayURL + version.DefaultPath, Param: version.DefaultParam}

	mux := http.NewServeMux()
	mux.Handle("POST "+demo.CallbackPath, cb)
	mux.HandleFunc("GET /version.json", a.versionJSON)
	mux.HandleFunc("POST /api/version", a.publish)
	mux.HandleFunc("GET /api/config", a.pageConfig)
	mux.HandleFunc("GET "+demo.StylePath, demo.Style)
	page, _ := fs.Sub(static, "static")
	mux.Handle("GET /", http.FileServerFS(page))

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(env.Listener) }()

	// Graceful shutdown, in dependency order. The notifier has no goroutine
	// and needs no shutdown of its own.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = errors.Join(err,
			cb.Shutdown(sctx),    // refuse new streams (503), wait for callbacks in flight
			srv.Shutdown(sctx),   // stop accepting requests, wait for handlers
			conns.Shutdown(sctx), // wait for in-flight sends, stop the sweeper
		)
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}()

	fmt.Fprintln(stdout, "ssegate version demo")
	env.Describe(stdout)

	if o.headless {
		return headless(ctx, stdout, env, o.publish)
	}
	fmt.Fprintf(stdout, "open      %s/ and publish a version (Ctrl-C to stop)\n", env.BackendURL)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "shutting down")
		return nil
	case err := <-served:
		served <- err // for the deferred shutdown
		return fmt.Errorf("serve: %w", err)
	}
}

// headless plays one page: it opens a version stream, prints the current
// version, publishes next through the HTTP API, prints the broadcast and
// closes the stream.
func headless(ctx context.Context, stdout io.Writer, env *demo.Env, next version.Info) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	requestID := "headless-" + strings.ToLower(rand.Text()[:10])
	path := version.DefaultPath + "?" + version.DefaultParam + "=" + requestID
	fmt.Fprintf(stdout, "stream    %s%s\n", env.PublicGatewayURL, path)
	st, err := env.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()

	// On connect, with nothing pending, the notifier sends the current
	// version.
	if err := printVersion(ctx, stdout, st); err != nil {
		return err
	}

	body, _ := json.Marshal(next)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.BackendURL+"/api/version", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Close = true // leave no idle connection behind
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var pub publishResponse
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&pub)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("publish: %s: %v", resp.Status, err)
	}
	fmt.Fprintf(stdout, "published %s to %d connected page(s)\n", pub.Version, len(pub.Deliveries))

	if err := printVersion(ctx, stdout, st); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "stream closed")
	return nil
}

// printVersion reads the next version event from st and prints it.
func printVersion(ctx context.Context, stdout io.Writer, st demo.Stream) error {
	ev, err := demo.ReadEvent(ctx, st)
	if err != nil {
		return fmt.Errorf("waiting for a version event: %w", err)
	}
	if ev.Name != version.EventName {
		return fmt.Errorf("got event %q %s, want %q", ev.Name, ev.Data, version.EventName)
	}
	fmt.Fprintf(stdout, "event     %s %s\n", ev.Name, ev.Data)
	return nil
}

// app holds the HTTP handlers of the version API.
type app struct {
	notifier *version.Notifier
	config   pageConfig

	mu      sync.Mutex // guards current
	current version.Info
}

// pageConfig is the answer of GET /api/config: the page opens
// new EventSource(stream_url + "?" + param + "=" + its request id).
type pageConfig struct {
	StreamURL string `json:"stream_url"`
	Param     string `json:"param"`
}

func (a *app) pageConfig(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.config)
}

func (a *app) versionJSON(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	cur := a.current
	a.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, cur)
}

// publishResponse is the answer of POST /api/version.
type publishResponse struct {
	Version    string     `json:"version"`
	Deliveries []delivery `json:"deliveries"`
}

type delivery struct {
	RequestID string `json:"request_id"`
	Status    string `json:"status"`
}

// publish stands for a deploy: the new version becomes the current one and
// is broadcast to every connected page.
func (a *app) publish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	info, err := version.ParseInfo(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, `want {"version":"…","changelog":"…"}`)
		return
	}
	a.mu.Lock()
	a.current = info
	a.mu.Unlock()

	deliveries, err := a.notifier.Broadcast(r.Context(), info)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp := publishResponse{Version: info.Version, Deliveries: []delivery{}}
	for _, d := range deliveries {
		resp.Deliveries = append(resp.Deliveries, delivery{RequestID: d.RequestID, Status: d.Status.String()})
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
