package tab_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/gatewaytest"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "tab-secret"

// sessionSubject is the application's subject function of the tests: the
// user is the session cookie's value; no cookie refuses the connect.
func sessionSubject(req *callback.Request) (string, error) {
	c, err := (&http.Request{Header: req.Header}).Cookie("session")
	if err != nil {
		return "", errors.New("no session")
	}
	return c.Value, nil
}

// session returns the headers of a browser signed in as user.
func session(user string) http.Header {
	return http.Header{"Cookie": {"session=" + user}}
}

// stack is a gateway, a manager, a hub and a runner sending to it, wired
// together over loopback.
type stack struct {
	gw     *gatewaytest.Server
	mgr    *sseconn.Manager
	hub    *tab.Hub
	runner *task.Runner
}

type stackConfig struct {
	gen     int
	hubOpts []tab.Option
	gwOpts  []gatewaytest.Option
	// hub makes the hub instead of tab.New(mgr, hubOpts...), for AMQP mode.
	hub func(mgr *sseconn.Manager) (*tab.Hub, error)
}

func newStack(t *testing.T, sc stackConfig) *stack {
	t.Helper()
	var handler atomic.Pointer[callback.Handler]
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(backend.Close)
	gw := gatewaytest.NewServer(backend.URL+"/api/sse/callback?secret="+secret,
		append([]gatewaytest.Option{gatewaytest.WithGeneration(sc.gen)}, sc.gwOpts...)...)
	mgr, err := sseconn.New(gw.URL)
	if err != nil {
		gw.Close()
		t.Fatalf("sseconn.New: %v", err)
	}
	var hub *tab.Hub
	if sc.hub != nil {
		hub, err = sc.hub(mgr)
	} else {
		opts := append([]tab.Option{
			tab.WithSubject(sessionSubject),
			tab.WithGreeter(version.Greeter(version.Static{Version: "1.0.0"})),
		}, sc.hubOpts...)
		hub, err = tab.New(mgr, opts...)
	}
	if err != nil {
		gw.Close()
		t.Fatalf("tab.New: %v", err)
	}
	runner, err := task.New(mgr, task.WithTabs(hub))
	if err != nil {
		gw.Close()
		t.Fatalf("task.New: %v", err)
	}
	h, err := callback.NewHandler(callback.WithSecret(secret),
		callback.WithRoute(hub.Matcher(), hub), callback.WithRoute(runner.Matcher(), runner))
	if err != nil {
		t.Fatalf("callback.NewHandler: %v", err)
	}
	handler.Store(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := runner.Shutdown(ctx); err != nil {
			t.Errorf("runner Shutdown: %v", err)
		}
		gw.Close()
		if err := h.Shutdown(ctx); err != nil {
			t.Errorf("handler Shutdown: %v", err)
		}
		hub.Close()
		if err := mgr.Shutdown(ctx); err != nil {
			t.Errorf("manager Shutdown: %v", err)
		}
	})
	return &stack{gw: gw, mgr: mgr, hub: hub, runner: runner}
}
