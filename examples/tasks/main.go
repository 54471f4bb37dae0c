// Command tasks is a complete backend behind a callback-style SSE gateway: a
// page starts a background task and follows its progress live.
//
//	go run ./examples/tasks            # then open the URL it prints
//	go run ./examples/tasks -headless  # one task, its events in the terminal
//
// By default it starts an in-process gateway (gatewaytest) on loopback, so
// nothing else is needed. Against a real gateway:
//
//	go run ./examples/tasks -addr 0.0.0.0:8080 -gateway http://gateway:3000 \
//	    -public-gateway http://localhost:3000 -secret "$SSE_CALLBACK_SECRET"
//
// and start the gateway with the CALLBACK_URL it prints. The flags -gateway
// and -secret default to $SSE_GATEWAY_URL and $SSE_CALLBACK_SECRET.
//
// As several replicas sharing their tasks through RabbitMQ (AMQP mode),
// behind the embedded gateway in AMQP mode; the gateway's callbacks and the
// API requests alternate between the replicas:
//
//	go run ./examples/tasks -replicas 2 -amqp amqp://guest:guest@127.0.0.1:5672/
//
// With one stream per browser tab, as the real frontend's second generation
// (two tasks at once in one page over one stream, and the backend's version
// on the same stream):
//
//	go run ./examples/tasks -streams tab
//
// A task runs on the replica that got POST /api/tasks; its stream is served
// by whichever replica got the connect callback. GET /api/tasks/{id}
// answers on the task's replica only (404 on the others); cancel works on
// every replica.
//
// The backend serves:
//
//	POST /api/sse/callback       the gateway's connect and disconnect callbacks
//	POST /api/tasks              start a demo task: {"id","stream_url","status"};
//	                             with -streams tab, POST /api/tasks?request_id=<tab>
//	                             starts it for that tab: {"id","status"}
//	GET  /api/config             with -streams tab: {"gateway"}, the gateway's base URL
//	GET  /api/tasks/{id}         the task's state
//	POST /api/tasks/{id}/cancel  cancel it
//	GET  /                       the page (embedded, no external assets)
package main

import (
	"context"
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
	"syscall"
	"time"

	"github.com/ssegate/ssegate/examples/internal/demo"
	"github.com/ssegate/ssegate/sseconn/amqp/amqptest"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
)

//go:embed static
var static embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tasks:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	demo      demo.Config
	headless  bool
	steps     int
	stepDelay time.Duration
	verbose   bool
	replicas  int
	amqp      string
	streams   string
}

// The values of -streams.
const (
	streamsTask = "task" // one stream per task
	streamsTab  = "tab"  // one stream per browser tab
)

// demoVersion is the backend version the demo sends to every tab stream.
const demoVersion = "demo-1.0"

func parseFlags(args []string, stdout io.Writer) (options, error) {
	var o options
	flags := flag.NewFlagSet("tasks", flag.ContinueOnError)
	flags.SetOutput(stdout)
	o.demo.AddFlags(flags, &o.verbose)
	flags.BoolVar(&o.headless, "headless", false, "run one task, print its events and exit")
	flags.IntVar(&o.steps, "steps", 10, "steps of the demo task")
	flags.DurationVar(&o.stepDelay, "step-delay", 400*time.Millisecond, "duration of each step")
	flags.IntVar(&o.replicas, "replicas", 1, "backend replicas; more than one needs -amqp")
	flags.StringVar(&o.amqp, "amqp", os.Getenv("RABBITMQ_URL"), "RabbitMQ `URL`: the replicas share tasks through it (AMQP mode)")
	flags.StringVar(&o.streams, "streams", streamsTask, "`task`: one stream per task; tab: one stream per browser tab, for every task of the tab")
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	if flags.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", flags.Args())
	}
	if o.steps < 1 {
		return o, fmt.Errorf("-steps %d: want at least 1", o.steps)
	}
	if o.replicas < 1 || (o.replicas > 1 && o.amqp == "") {
		return o, fmt.Errorf("-replicas %d: want 1, or more with -amqp", o.replicas)
	}
	if o.streams != streamsTask && o.streams != streamsTab {
		return o, fmt.Errorf("-streams %q: want %s or %s", o.streams, streamsTask, streamsTab)
	}
	if o.streams == streamsTab && o.headless {
		return o, errors.New("-headless follows one task's stream: it needs -streams task")
	}
	if o.stepDelay < 0 {
		return o, fmt.Errorf("-step-delay %s: want zero or more", o.stepDelay)
	}
	o.demo.Parsed(flags)
	return o, nil
}

// run runs the backend until ctx is done, or, with -headless, until the
// task's stream has ended. It then shuts everything down in order.
func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	logger := demo.Logger(o.verbose)

	if o.amqp != "" && o.demo.Gateway == "" {
		// The embedded gateway in AMQP mode, as the reference gateway with
		// RABBITMQ_URL set.
		o.demo.GatewayOptions = append(o.demo.GatewayOptions, amqptest.WithAMQP(o.amqp, 0))
	}
	env, err := demo.Start(o.demo)
	if err != nil {
		return err
	}
	defer env.Close() // last: the gateway outlives everything that talks to it

	// One replica, or several that share the tasks through RabbitMQ: each
	// has its own connection manager, runner and callback handler.
	var replicas []*replica
	for i := range o.replicas {
		r, rerr := newReplica(ctx, o, env, logger)
		if rerr != nil {
			env.Listener.Close()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			for _, r := range replicas {
				rerr = errors.Join(rerr, r.shutdownFront(sctx), r.shutdownBack(sctx))
			}
			return fmt.Errorf("replica %d: %w", i+1, rerr)
		}
		replicas = append(replicas, r)
	}

	// The gateway's callbacks and the API requests go to the replicas in
	// turn, as a load balancer would send them.
	var cbs, apis []http.Handler
	for _, r := range replicas {
		app := &app{runner: r.runner, gateway: env.PublicGatewayURL, steps: o.steps, stepDelay: o.stepDelay,
			tabs: o.streams == streamsTab}
		api := http.NewServeMux()
		api.HandleFunc("POST /api/tasks", app.start)
		api.HandleFunc("GET /api/tasks/{id}", app.get)
		api.HandleFunc("POST /api/tasks/{id}/cancel", app.cancel)
		cbs, apis = append(cbs, r.cb), append(apis, api)
	}
	// The headless task runs on the last replica and the API's first request
	// goes to the second, while the first callback goes to the first: with
	// several replicas, the first task's stream is served by a replica that
	// does not run it.
	first := &app{runner: replicas[len(replicas)-1].runner, gateway: env.PublicGatewayURL, steps: o.steps, stepDelay: o.stepDelay}
	mux := http.NewServeMux()
	mux.Handle("POST "+demo.CallbackPath, newAlternate(cbs, 0))
	toAPI := newAlternate(apis, 1%len(apis))
	mux.Handle("POST /api/tasks", toAPI)
	mux.Handle("GET /api/tasks/{id}", toAPI)
	mux.Handle("POST /api/tasks/{id}/cancel", toAPI)
	mux.HandleFunc("GET "+demo.StylePath, demo.Style)
	page, _ := fs.Sub(static, "static")
	mux.Handle("GET /", http.FileServerFS(page))
	if o.streams == streamsTab {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			http.ServeFileFS(w, r, page, "tab.html")
		})
		mux.HandleFunc("GET /api/config", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"gateway": env.PublicGatewayURL})
		})
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(env.Listener) }()

	// Graceful shutdown, in dependency order. The HTTP server keeps running
	// until the runners and the callback handlers are done, so that the
	// final events' disconnect callbacks still reach a handler.
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, r := range replicas {
			err = errors.Join(err, r.shutdownFront(sctx)) // runner, then callback handler
		}
		err = errors.Join(err, srv.Shutdown(sctx)) // stop accepting requests, wait for handlers
		for _, r := range replicas {
			err = errors.Join(err, r.shutdownBack(sctx)) // connection manager, bus
		}
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}()

	fmt.Fprintln(stdout, "ssegate tasks demo")
	env.Describe(stdout)

	if o.headless {
		return headless(ctx, stdout, env, first)
	}
	fmt.Fprintf(stdout, "open      %s/ and press Start (Ctrl-C to stop)\n", env.BackendURL)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "shutting down")
		return nil
	case err := <-served:
		served <- err // for the deferred shutdown
		return fmt.Errorf("serve: %w", err)
	}
}

// headless starts one task, follows its stream like a browser and prints
// each event, until the stream ends after connection_close.
func headless(ctx context.Context, stdout io.Writer, env *demo.Env, a *app) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(a.steps+5)*(a.stepDelay+time.Second))
	defer cancel()

	info, err := a.runner.Start(ctx, a.work())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "task      %s\nstream    %s%s\n", info.ID, env.PublicGatewayURL, info.StreamURL)

	st, err := env.Open(ctx, info.StreamURL)
	if err != nil {
		return err
	}
	defer st.Close()
	for {
		ev, err := demo.ReadEvent(ctx, st)
		if errors.Is(err, io.EOF) {
			return errors.New("the stream ended before connection_close")
		}
		if err != nil {
			return err
		}
		if ev.Name != task.EventName {
			fmt.Fprintf(stdout, "other     %s %s\n", ev.Name, ev.Data)
			continue
		}
		var m task.Message
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			return fmt.Errorf("task event %q: %w", ev.Data, err)
		}
		fmt.Fprintf(stdout, "event     %s %s\n", m.EventType, m.Data)
		if m.EventType == task.TypeClose {
			// The gateway ends the stream after this event.
			if _, err := st.Next(ctx); !errors.Is(err, io.EOF) {
				return fmt.Errorf("after connection_close: got %v, want the end of the stream", err)
			}
			fmt.Fprintln(stdout, "stream closed")
			return nil
		}
	}
}

// app holds the HTTP handlers of the task API.
type app struct {
	runner    *task.Runner
	gateway   string // the gateway's base URL for browsers
	steps     int
	stepDelay time.Duration
	tabs      bool // -streams tab: tasks are started for the tab that asks
}

// result is what the demo task returns: the data of task_completed.
type result struct {
	Message string `json:"message"`
	Steps   int    `json:"steps"`
	Elapsed string `json:"elapsed"`
}

// work returns the demo task: steps of stepDelay each, reporting progress
// after each one, and stopping early when cancelled.
func (a *app) work() task.Func {
	return func(ctx context.Context, p *task.Progress) (any, error) {
		start := time.Now()
		p.Report("Warming up", 0)
		t := time.NewTimer(a.stepDelay)
		defer t.Stop()
		for i := 1; i <= a.steps; i++ {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-t.C:
			}
			p.Report(fmt.Sprintf("Step %d of %d", i, a.steps), float64(i)/float64(a.steps))
			t.Reset(a.stepDelay)
		}
		return result{
			Message: fmt.Sprintf("All %d steps done", a.steps),
			Steps:   a.steps,
			Elapsed: time.Since(start).Round(time.Millisecond).String(),
		}, nil
	}
}

// startResponse is the answer of POST /api/tasks.
type startResponse struct {
	ID string `json:"id"`
	// StreamURL is absolute: the page opens new EventSource(stream_url) on
	// the gateway, which is another origin than the page's.
	// It is empty with -streams tab.
	StreamURL string      `json:"stream_url,omitempty"`
	Status    task.Status `json:"status"`
}

func (a *app) start(w http.ResponseWriter, r *http.Request) {
	var opts []task.StartOption
	if a.tabs {
		// The task's events go to the tab that asked, on its one stream.
		// The demo has no sign-in: the tab's subject is "".
		opts = append(opts, task.For(tab.To(r.URL.Query().Get("request_id"), "")))
	}
	info, err := a.runner.Start(r.Context(), a.work(), opts...)
	switch {
	case errors.Is(err, tab.ErrInvalidAudience):
		writeError(w, http.StatusBadRequest, "missing or invalid request_id")
		return
	case errors.Is(err, task.ErrQueueFull):
		writeError(w, http.StatusTooManyRequests, "too many tasks, try again later")
		return
	case errors.Is(err, task.ErrShutdown):
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, "cannot start the task")
		return
	}
	resp := startResponse{ID: info.ID, Status: info.Status}
	if info.StreamURL != "" {
		resp.StreamURL = a.gateway + info.StreamURL
	}
	writeJSON(w, http.StatusAccepted, resp)
}

// taskState is the answer of GET /api/tasks/{id}.
type taskState struct {
	ID       string          `json:"id"`
	Status   task.Status     `json:"status"`
	Progress task.Update     `json:"progress"`
	Result   json.RawMessage `json:"result,omitempty"`
	Error    string          `json:"error,omitempty"`
}

func (a *app) get(w http.ResponseWriter, r *http.Request) {
	info, ok := a.runner.Get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "task not found")
		return
	}
	writeJSON(w, http.StatusOK, taskState{
		ID: info.ID, Status: info.Status, Progress: info.Progress, Result: info.Result, Error: info.Error,
	})
}

func (a *app) cancel(w http.ResponseWriter, r *http.Request) {
	if err := a.runner.Cancel(r.PathValue("id")); err != nil {
		writeError(w, http.StatusNotFound, "task not found")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
