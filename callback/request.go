package callback

import (
	"net/http"
	"net/url"
)

// Request is a decoded, validated gateway callback, handed to a [Service].
// The handler makes a new Request for every callback; a service may keep it.
type Request struct {
	// Action is "connect" or "disconnect".
	Action string
	// Token is the gateway's token for the browser's stream. It is never empty.
	Token string
	// Reason is the disconnect reason ("client_closed", "server_closed" or
	// "error"); empty on connect.
	Reason string
	// URL is the browser's request URL (path and query, no scheme or host),
	// parsed.
	URL *url.URL
	// Header holds the browser's forwarded headers with canonical names.
	// It carries cookies and credentials: never log it whole.
	Header http.Header
	// Identifier is the "kind:value" identifier the matching route produced,
	// for example "task:42".
	Identifier string
	// Params holds the named values the matcher extracted, for example
	// {"id": "42"} for [Path], {"task_id": "42"} for [Query] or
	// {"rest": "a/b"} for [Prefix]. It may be nil for a [MatcherFunc].
	Params map[string]string
}
