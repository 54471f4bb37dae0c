// Package yourapp is the README's recipe for streaming your own events: the
// gateway's callbacks register each browser's stream under an identifier,
// and the application sends to the identifier.
package yourapp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

// Routes mounts the gateway's callback route on mux: a browser that opens
// /api/sse/users/{id} on the gateway is registered in conns as "user:<id>",
// and unregistered when it leaves.
func Routes(mux *http.ServeMux, conns *sseconn.Manager, secret string) error {
	cb, err := callback.NewHandler(
		callback.WithSecret(secret),
		callback.WithRoute(callback.Path("user", "/api/sse/users/{id}"), callback.NewRegistrar(conns)),
	)
	if err != nil {
		return err
	}
	mux.Handle("POST /api/sse/callback", cb)
	return nil
}

// Notice is the data of a "notice" event.
type Notice struct {
	Text string `json:"text"`
}

// Notify sends a notice to the browser of a user, from anywhere in the
// application. A user with no stream open misses it.
func Notify(ctx context.Context, conns *sseconn.Manager, userID, text string) error {
	data, err := json.Marshal(Notice{Text: text})
	if err != nil {
		return err
	}
	err = conns.Send(ctx, "user:"+userID, sseconn.Event{Name: "notice", Data: string(data)})
	if errors.Is(err, sseconn.ErrNotConnected) || errors.Is(err, sseconn.ErrGone) {
		return nil // nobody is listening
	}
	return err
}
