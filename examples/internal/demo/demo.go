// Package demo is the plumbing that the example programs share and that is
// not about ssegate itself: listening, choosing between an embedded gateway
// and an external one, and reading a stream in the terminal mode.
//
// The wiring of the library (sseconn, callback, task, version) stays in each
// example's main.go, where a reader looks for it.
//
// # Concurrency
//
// An Env is set up and closed by one goroutine; Env.Open may be called
// concurrently. The package starts no goroutine of its own beyond those of
// the embedded gatewaytest.Server, which Env.Close stops.
//
// # Errors
//
// Start fails when it cannot listen or a URL is invalid. ReadEvent turns a
// gateway's "rejected" event into an error.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/ssegate/ssegate/examples/internal/sseclient"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// CallbackPath is the path the examples mount the callback handler on.
const CallbackPath = "/api/sse/callback"

// Config says where the backend listens and which gateway it talks to.
type Config struct {
	// Addr is the backend's listen address, for example "127.0.0.1:8080".
	Addr string
	// AnyPortIfBusy makes Start listen on a free port of the same host when
	// Addr is in use, so that a demo's default address never stops it. It
	// applies to the embedded gateway only: an external gateway must be told
	// a stable callback URL.
	AnyPortIfBusy bool
	// Gateway is the base URL of an external gateway, as the backend reaches
	// it. Empty starts an embedded gatewaytest.Server instead.
	Gateway string
	// PublicGateway is the gateway's base URL as browsers reach it, if it
	// differs from Gateway (a reverse proxy, say). Empty means Gateway.
	PublicGateway string
	// Secret is the shared callback secret. Empty generates a random one.
	Secret string
	// Generation is the protocol generation of the embedded gateway, 1 or 2
	// (0 means 2).
	Generation int
	// GatewayOptions are more options of the embedded gateway, for example
	// amqptest.WithAMQP for its AMQP mode.
	GatewayOptions []gatewaytest.Option
}

// Env is a running backend listener and the gateway it talks to.
type Env struct {
	// Listener is the backend's listener; the caller serves on it.
	Listener net.Listener
	// BackendURL is the backend's base URL, the page's origin, without a
	// trailing slash.
	BackendURL string
	// GatewayURL is the gateway's base URL for the backend: what
	// sseconn.New takes.
	GatewayURL string
	// PublicGatewayURL is the gateway's base URL for browsers.
	PublicGatewayURL string
	// Secret is the shared callback secret.
	Secret string
	// CallbackURL is the gateway's CALLBACK_URL, secret included.
	CallbackURL string
	// Embedded is the in-process gateway, or nil with an external one.
	Embedded *gatewaytest.Server
	// Generation is the embedded gateway's generation, 0 with an external
	// one (whose generation the backend does not need to know).
	Generation int
}

// Start listens for the backend and starts an embedded gateway that calls
// it back, or checks the external gateway's URLs. The caller must call
// Env.Close once the backend has stopped using the gateway.
func Start(cfg Config) (*Env, error) {
	secret := cfg.Secret
	if secret == "" {
		secret = rand.Text()
	}
	if cfg.Gateway != "" {
		if err := checkBaseURL(cfg.Gateway); err != nil {
			return nil, fmt.Errorf("gateway URL: %w", err)
		}
		if cfg.PublicGateway != "" {
			if err := checkBaseURL(cfg.PublicGateway); err != nil {
				return nil, fmt.Errorf("public gateway URL: %w", err)
			}
		}
	}
	if cfg.Generation != 0 && cfg.Generation != 1 && cfg.Generation != 2 {
		return nil, fmt.Errorf("gateway generation %d: want 1 or 2", cfg.Generation)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil && cfg.AnyPortIfBusy && cfg.Gateway == "" && errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(cfg.Addr)
		ln, err = net.Listen("tcp", net.JoinHostPort(host, "0"))
	}
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}

	e := &Env{Listener: ln, Secret: secret}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1" // the embedded gateway and a local browser
		if cfg.Gateway != "" {
			// An external gateway reaches this machine by its name.
			if name, err := os.Hostname(); err == nil {
				host = name
			}
		}
	}
	e.BackendURL = "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
	e.CallbackURL = e.BackendURL + CallbackPath + "?secret=" + url.QueryEscape(secret)

	if cfg.Gateway == "" {
		e.Generation = cfg.Generation
		if e.Generation == 0 {
			e.Generation = 2
		}
		opts := append([]gatewaytest.Option{
			gatewaytest.WithGeneration(e.Generation),
			// The page comes from the backend's origin and opens its
			// EventSource on the gateway's: a cross-origin request.
			gatewaytest.WithCORS(e.BackendURL),
		}, cfg.GatewayOptions...)
		e.Embedded = gatewaytest.NewServer(e.CallbackURL, opts...)
		e.GatewayURL = e.Embedded.URL
		e.PublicGatewayURL = e.Embedded.URL
		return e, nil
	}
	e.GatewayURL = strings.TrimSuffix(cfg.Gateway, "/")
	e.PublicGatewayURL = strings.TrimSuffix(cfg.PublicGateway, "/")
	if e.PublicGatewayURL == "" {
		e.PublicGatewayURL = e.GatewayURL
	}
	return e, nil
}

// checkBaseURL reports whether raw is an absolute http or https URL.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", raw)
	}
	return nil
}

// Describe prints where things are: the page to open with an embedded
// gateway, or the CALLBACK_URL to configure on an external one.
func (e *Env) Describe(w io.Writer) {
	if e.Embedded != nil {
		fmt.Fprintf(w, "gateway:  %s (embedded gatewaytest, generation %d)\n", e.GatewayURL, e.Generation)
		fmt.Fprintf(w, "backend:  %s\n", e.BackendURL)
		return
	}
	fmt.Fprintf(w, "gateway:  %s (external", e.GatewayURL)
	if e.PublicGatewayURL != e.GatewayURL {
		fmt.Fprintf(w, "; browsers use %s", e.PublicGatewayURL)
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "backend:  %s\n", e.BackendURL)
	fmt.Fprintf(w, "configure the gateway with:\n  CALLBACK_URL=%s\n", e.CallbackURL)
}

// Stream is an open event stream: a *gatewaytest.Stream with the embedded
// gateway, a *sseclient.Stream with an external one.
type Stream interface {
	Next(ctx context.Context) (gatewaytest.Event, error)
	Close()
}

// Open opens the stream at path (and query) on the gateway, as a browser's
// EventSource does. ctx bounds the opening, and with an external gateway
// the whole life of the stream.
func (e *Env) Open(ctx context.Context, path string) (Stream, error) {
	if e.Embedded == nil {
		return sseclient.Open(ctx, nil, e.GatewayURL+path)
	}
	st, err := e.Embedded.Connect(ctx, path, nil)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	if st.StatusCode != 200 {
		defer st.Close()
		return nil, fmt.Errorf("open stream: gateway answered %d: %s", st.StatusCode, st.Body())
	}
	return st, nil
}

// Close stops the embedded gateway, if there is one. It does not close
// Listener, which belongs to the HTTP server serving on it.
func (e *Env) Close() {
	if e.Embedded != nil {
		e.Embedded.Close()
	}
}

// ReadEvent returns the next event that the backend sent, unwrapped from a
// generation-2 envelope: it skips the gateway's "ready" and fails on its
// "rejected".
func ReadEvent(ctx context.Context, st Stream) (gatewaytest.Event, error) {
	for {
		ev, err := st.Next(ctx)
		if err != nil {
			return ev, err
		}
		switch ev.Name {
		case "ready":
			continue
		case "rejected":
			return ev, fmt.Errorf("the backend rejected the stream: %s", ev.Data)
		}
		return ev.Unwrap(), nil
	}
}

// AddFlags defines on flags the options every example shares: where the
// backend listens, which gateway it talks to, the callback secret, the
// embedded gateway's generation, and -v. Call Parsed after flags.Parse.
func (c *Config) AddFlags(flags *flag.FlagSet, verbose *bool) {
	flags.StringVar(&c.Addr, "addr", "127.0.0.1:8080", "backend listen `address`")
	flags.StringVar(&c.Gateway, "gateway", os.Getenv("SSE_GATEWAY_URL"),
		"external gateway base `URL` ($SSE_GATEWAY_URL); empty starts an embedded gateway")
	flags.StringVar(&c.PublicGateway, "public-gateway", os.Getenv("SSE_PUBLIC_GATEWAY_URL"),
		"gateway base `URL` as browsers reach it, if different ($SSE_PUBLIC_GATEWAY_URL)")
	flags.StringVar(&c.Secret, "secret", os.Getenv("SSE_CALLBACK_SECRET"),
		"callback `secret` ($SSE_CALLBACK_SECRET); empty generates one")
	flags.IntVar(&c.Generation, "generation", 2, "protocol generation of the embedded gateway (1 or 2)")
	flags.BoolVar(verbose, "v", false, "log what the library does (debug level, to stderr)")
}

// Parsed completes c once flags are parsed: the default address may be
// taken, and a demo then picks a free port, unless -addr was given.
func (c *Config) Parsed(flags *flag.FlagSet) {
	c.AnyPortIfBusy = true
	flags.Visit(func(f *flag.Flag) {
		if f.Name == "addr" {
			c.AnyPortIfBusy = false
		}
	})
}

// Logger returns a silent logger, or with verbose a debug-level one on
// stderr.
func Logger(verbose bool) *slog.Logger {
	if !verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
