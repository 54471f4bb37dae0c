package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/examples/internal/demo"
	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
	"github.com/ssegate/ssegate/version"
)

// replica is one backend replica: its own connection manager, runner and
// callback handler, and in AMQP mode its own bus.
type replica struct {
	bus    *amqp.Bus // nil with one replica and no -amqp
	conns  *sseconn.Manager
	runner *task.Runner
	hub    *tab.Hub // with -streams tab: one stream per browser tab
	cb     *callback.Handler
}

// newReplica builds a replica. With o.amqp its runner shares tasks with
// the other replicas through RabbitMQ: the only difference is an option.
func newReplica(ctx context.Context, o options, env *demo.Env, logger *slog.Logger) (r *replica, err error) {
	r = &replica{}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			err = errors.Join(err, r.shutdownFront(sctx), r.shutdownBack(sctx))
		}
	}()
	opts := []task.Option{task.WithWorkers(4), task.WithRetention(5 * time.Minute), task.WithLogger(logger)}
	if o.amqp != "" {
		if r.bus, err = amqp.NewBus(ctx, o.amqp, amqp.WithLogger(logger)); err != nil {
			return r, err
		}
		opts = append(opts, task.WithBus(r.bus))
	}
	// The connection manager maps "task:<id>" to the gateway's tokens and
	// sends events through the gateway's /internal/send.
	r.conns, err = sseconn.New(env.GatewayURL,
		sseconn.WithLogger(logger),
		sseconn.WithSweepInterval(time.Minute), // drop streams whose disconnect was lost
	)
	if err != nil {
		return r, err
	}
	routes := []callback.Option{callback.WithSecret(env.Secret), callback.WithLogger(logger)}
	if o.streams == streamsTab {
		// One stream per browser tab, /api/sse/stream?request_id=<tab>: the
		// hub is its callback service, and every tab gets the backend's
		// version first. The demo has no sign-in, so tabs have no subject;
		// an application passes tab.WithSubject to bind tabs to users.
		hopts := []tab.Option{tab.WithLogger(logger),
			tab.WithGreeter(version.Greeter(version.Static{Version: demoVersion}))}
		if r.bus != nil {
			hopts = append(hopts, tab.WithGateway(r.bus.Gateway()))
		}
		if r.hub, err = tab.New(r.conns, hopts...); err != nil {
			return r, err
		}
		opts = append(opts, task.WithTabs(r.hub))
		routes = append(routes, callback.WithRoute(r.hub.Matcher(), r.hub))
	}
	// The runner runs tasks on a worker pool and streams their events; it is
	// also the callback service of the task streams' route.
	if r.runner, err = task.New(r.conns, opts...); err != nil {
		return r, err
	}
	routes = append(routes, callback.WithRoute(r.runner.Matcher(), r.runner))
	r.cb, err = callback.NewHandler(routes...)
	return r, err
}

// shutdownFront stops the runner (cancelling running tasks and sending
// their last events) and then the callback handler.
func (r *replica) shutdownFront(ctx context.Context) error {
	var err error
	if r.runner != nil {
		err = r.runner.Shutdown(ctx)
	}
	if r.cb != nil {
		err = errors.Join(err, r.cb.Shutdown(ctx))
	}
	return err
}

// shutdownBack stops the hub and the connection manager and closes the
// bus.
func (r *replica) shutdownBack(ctx context.Context) error {
	var err error
	if r.hub != nil {
		r.hub.Close()
	}
	if r.conns != nil {
		err = r.conns.Shutdown(ctx)
	}
	if r.bus != nil {
		err = errors.Join(err, r.bus.Close())
	}
	return err
}

// alternate hands each request to the next handler in turn, like a load
// balancer in front of replicas.
type alternate struct {
	hs []http.Handler
	n  atomic.Uint64
}

// newAlternate returns an alternate whose first request goes to hs[first].
func newAlternate(hs []http.Handler, first int) *alternate {
	a := &alternate{hs: hs}
	a.n.Store(uint64(first))
	return a
}

func (a *alternate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.hs[(a.n.Add(1)-1)%uint64(len(a.hs))].ServeHTTP(w, r)
}
