package realgw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ssegate/ssegate/internal/testenv"
)

// StartTimeout bounds how long [Start] and [Gateway.Restart] wait for the
// gateway's /readyz to answer 200.
const StartTimeout = 20 * time.Second

// Config is the environment a gateway starts with (docs/protocol.md section 1).
type Config struct {
	// CallbackURL is CALLBACK_URL: the backend's callback endpoint, with the
	// shared secret in its query string. Empty leaves the gateway unready.
	CallbackURL string
	// Heartbeat is HEARTBEAT_INTERVAL_SECONDS, rounded down to whole seconds.
	// Zero means the gateway's default, 15 s.
	Heartbeat time.Duration
	// RabbitMQURL is RABBITMQ_URL; non-empty enables AMQP mode (generation 2).
	RabbitMQURL string
	// QueueTTL is RABBITMQ_QUEUE_TTL_MS. Zero means the gateway's default.
	QueueTTL time.Duration
	// EnvPrefix is RABBITMQ_ENV_PREFIX: the exchange becomes
	// <EnvPrefix>.sse.events.
	EnvPrefix string
}

// env returns the gateway's environment for port.
func (c Config) env(port int) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"NODE_ENV=production",
		"PORT=" + strconv.Itoa(port),
	}
	if c.CallbackURL != "" {
		env = append(env, "CALLBACK_URL="+c.CallbackURL)
	}
	if s := int(c.Heartbeat / time.Second); s > 0 {
		env = append(env, "HEARTBEAT_INTERVAL_SECONDS="+strconv.Itoa(s))
	}
	if c.RabbitMQURL != "" {
		env = append(env, "RABBITMQ_URL="+c.RabbitMQURL)
	}
	if c.QueueTTL > 0 {
		env = append(env, "RABBITMQ_QUEUE_TTL_MS="+strconv.FormatInt(c.QueueTTL.Milliseconds(), 10))
	}
	if c.EnvPrefix != "" {
		env = append(env, "RABBITMQ_ENV_PREFIX="+c.EnvPrefix)
	}
	return env
}

// Dir returns the folder of the built gateway of generation gen (1 or 2),
// skipping or failing t as [testenv.Require] decides when it is not set, and
// failing t when the folder holds no dist/index.js.
func Dir(t testing.TB, gen int) string {
	t.Helper()
	suite := testenv.Gateway2
	if gen == 1 {
		suite = testenv.Gateway1
	}
	dir := testenv.Require(t, suite)
	if _, err := os.Stat(filepath.Join(dir, "dist", "index.js")); err != nil {
		t.Fatalf("%s=%s holds no built gateway: %v; %s", suite.Var, dir, err, suite.How)
	}
	return dir
}

// Each runs f as the subtests "gen1" and "gen2", one per generation of the
// reference gateway, with the folder of that generation's build.
func Each(t *testing.T, f func(t *testing.T, dir string, gen int)) {
	t.Helper()
	for _, gen := range []int{1, 2} {
		t.Run("gen"+strconv.Itoa(gen), func(t *testing.T) {
			f(t, Dir(t, gen), gen)
		})
	}
}

// Gateway is one running reference gateway.
type Gateway struct {
	// URL is the gateway's base URL, such as "http://127.0.0.1:40123": the
	// browser's streams and the backend's /internal/send share it.
	URL string
	// Port is the gateway's port, kept across [Gateway.Restart].
	Port int
	t    testing.TB
	dir  string
	cfg  Config

	mu   sync.Mutex // guards cmd and done
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd has exited

	log logBuffer
}

// Start starts the gateway built in dir with cfg on a free loopback port and
// waits until its /readyz answers 200 (or, with no CallbackURL, until it
// answers at all). The gateway and every process it started are killed when
// the test ends; the gateway's log is printed if the test failed.
func Start(t testing.TB, dir string, cfg Config) *Gateway {
	t.Helper()
	g := &Gateway{t: t, dir: dir, cfg: cfg}
	t.Cleanup(func() {
		g.kill()
		if t.Failed() {
			t.Logf("reference gateway log (%s):\n%s", dir, g.Log())
		}
	})
	var err error
	for range 3 { // another process may take the free port first
		g.Port, err = freePort()
		if err != nil {
			t.Fatalf("realgw: %v", err)
		}
		g.URL = "http://127.0.0.1:" + strconv.Itoa(g.Port)
		if err = g.start(); err == nil {
			return g
		}
		g.kill()
	}
	t.Fatalf("realgw: start gateway in %s: %v\n%s", dir, err, g.Log())
	return nil
}

// Restart kills the gateway, as a crash would (no disconnect callbacks are
// sent), and starts it again on the same port, with all its state lost.
func (g *Gateway) Restart() {
	g.t.Helper()
	g.kill()
	if err := g.start(); err != nil {
		g.t.Fatalf("realgw: restart gateway: %v\n%s", err, g.Log())
	}
}

// Stop kills the gateway, as a crash would, and waits until it has exited.
// Nothing listens on its port afterwards until [Gateway.Restart].
func (g *Gateway) Stop() { g.kill() }

// Log returns what the gateway has written to stdout and stderr so far,
// across restarts: all of it, or, after a long run, its first 64 KiB and its
// last 1 to 2 MiB with a line that says how much was left out between them.
func (g *Gateway) Log() string { return g.log.String() }

// start starts the process and waits for readiness.
func (g *Gateway) start() error {
	cmd := exec.Command("node", filepath.Join("dist", "index.js"))
	cmd.Dir = g.dir
	cmd.Env = g.cfg.env(g.Port)
	cmd.Stdout = &g.log
	cmd.Stderr = &g.log
	setProcessGroup(cmd)
	g.log.WriteString(fmt.Sprintf("--- realgw: starting on port %d\n", g.Port))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node: %w (is Node.js installed?)", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	g.mu.Lock()
	g.cmd, g.done = cmd, done
	g.mu.Unlock()
	return g.waitReady(done)
}

// waitReady polls /readyz until it answers as Config says it should, the
// process exits or StartTimeout passes.
func (g *Gateway) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || (g.cfg.CallbackURL == "" && resp.StatusCode == http.StatusServiceUnavailable) {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the gateway exited before it was ready")
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v", StartTimeout)
		case <-tick.C:
		}
	}
}

// kill kills the process group and waits for the process to exit.
func (g *Gateway) kill() {
	g.mu.Lock()
	cmd, done := g.cmd, g.done
	g.cmd, g.done = nil, nil
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	killProcessGroup(cmd)
	<-done
}

// freePort returns a loopback port that nothing listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Caps of the gateway's log as [Gateway.Log] keeps it: its beginning and its
// latest part. A long run (a soak logs a line per event) would otherwise hold
// all of it in the test's memory.
const (
	logHeadBytes = 64 << 10
	logTailBytes = 1 << 20
)

// logBuffer keeps the first logHeadBytes and the last logTailBytes written
// to it, and counts what it left out between them. It is safe for concurrent
// use.
type logBuffer struct {
	mu      sync.Mutex // guards the fields below
	head    bytes.Buffer
	tail    []byte // the latest bytes, at most 2*logTailBytes before trimming
	skipped int64  // bytes left out between head and tail
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := logHeadBytes - b.head.Len(); room > 0 && len(b.tail) == 0 {
		k := min(room, len(p))
		b.head.Write(p[:k])
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if len(b.tail) > 2*logTailBytes {
		cut := len(b.tail) - logTailBytes
		b.skipped += int64(cut)
		b.tail = append(b.tail[:0:0], b.tail[cut:]...)
	}
	return n, nil
}

func (b *logBuffer) WriteString(s string) {
	_, _ = b.Write([]byte(s))
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.skipped == 0 {
		return b.head.String() + string(b.tail)
	}
	return fmt.Sprintf("%s\n--- realgw: %d bytes of log left out ---\n%s", b.head.String(), b.skipped, b.tail)
}
