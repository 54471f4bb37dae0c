package callback

import (
	"context"
	"errors"
	"fmt"
)

// Registry is what a [Registrar] needs of a connection manager: a place to
// map the identifier a route matched to the token of the browser's stream.
// A *sseconn.Manager satisfies it.
//
// Register maps identifier to token; it is called from the connect callback
// and must return well inside the gateway's callback timeout. Unregister
// removes token's mapping and reports whether it was the identifier's live
// one; it is called from the disconnect callback and must not block.
type Registry interface {
	Register(ctx context.Context, identifier, token string) error
	Unregister(token string) bool
}

// Registrar is the [Service] of the basic integration: it registers the
// stream of every browser that connects under the identifier its route
// matched, and unregisters the stream's token when it disconnects. The
// application then sends to the identifier, for example "user:42", and
// never handles a token:
//
//	conns, err := sseconn.New(gatewayURL)
//	...
//	h, err := callback.NewHandler(
//		callback.WithSecret(secret),
//		callback.WithRoute(callback.Path("user", "/api/sse/users/{id}"), callback.NewRegistrar(conns)),
//	)
//	...
//	err = conns.Send(ctx, "user:42", sseconn.Event{Name: "notice", Data: `{"text":"hi"}`})
//
// A Registrar accepts every browser its route matches. To refuse some,
// return a [*Rejection] from the route's [Matcher], or write a Service that
// checks the request and then calls Register itself. Its methods are safe for
// concurrent use if the Registry's are.
type Registrar struct {
	reg Registry
}

var _ Service = (*Registrar)(nil)

// errNoRegistry is returned by a Registrar made without a Registry.
var errNoRegistry = errors.New("callback: registrar without a registry")

// NewRegistrar returns a Registrar that registers streams in r. A nil r
// makes every connect fail with 500.
func NewRegistrar(r Registry) *Registrar {
	return &Registrar{reg: r}
}

// Connect registers req's stream under req.Identifier and answers {}. A
// registration error, wrapped, answers 500.
func (r *Registrar) Connect(ctx context.Context, req *Request) (*ConnectResponse, error) {
	if r.reg == nil {
		return nil, errNoRegistry
	}
	if err := r.reg.Register(ctx, req.Identifier, req.Token); err != nil {
		return nil, fmt.Errorf("callback: register stream: %w", err)
	}
	return nil, nil
}

// Disconnect unregisters req's token. A token that was already replaced by
// a newer stream of the same identifier leaves that stream's mapping alone
// (if the Registry, like *sseconn.Manager, compares tokens). It never fails.
func (r *Registrar) Disconnect(_ context.Context, req *Request) error {
	if r.reg != nil {
		r.reg.Unregister(req.Token)
	}
	return nil
}
