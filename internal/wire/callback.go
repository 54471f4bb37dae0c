package wire

// Callback actions.
const (
	ActionConnect    = "connect"
	ActionDisconnect = "disconnect"
)

// Disconnect reasons.
const (
	ReasonClientClosed = "client_closed"
	ReasonServerClosed = "server_closed"
	ReasonError        = "error"
)

// Callback is the body the gateway POSTs to the backend's callback URL when a
// browser connects (Action "connect") or a fully opened stream ends (Action
// "disconnect"). Reason is set on disconnects only.
type Callback struct {
	Action  string  `json:"action"`
	Token   string  `json:"token"`
	Reason  string  `json:"reason,omitempty"`
	Request Request `json:"request"`
}

// Request describes the browser's SSE request: URL is the path plus query
// exactly as the browser sent it (no scheme, no host) and Headers are its
// headers with lower-cased names.
type Request struct {
	URL     string  `json:"url"`
	Headers Headers `json:"headers"`
}
