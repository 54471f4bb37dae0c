package callback

import "context"

// Service handles the callbacks of one route.
//
// Connect is called for a browser that opens a stream. It must return well
// inside the gateway's 5 s callback timeout; sends made from it are buffered
// by the gateway and delivered once the stream opens. Returning a
// [*Rejection] (see [Reject]) answers with its status; any other error
// answers 500 with a generic body.
//
// Disconnect is called when a fully opened stream ends. Disconnect callbacks
// are best-effort: a service must not rely on ever receiving one. Its error is
// logged and answered like a Connect error, but the gateway ignores the
// answer.
//
// Both get the callback request's context, which ends when the gateway gives
// up on the callback. Both are called concurrently, for different browsers
// and for the same one, and must be safe for that; a panic is recovered and
// answered 500.
type Service interface {
	Connect(ctx context.Context, req *Request) (*ConnectResponse, error)
	Disconnect(ctx context.Context, req *Request) error
}
