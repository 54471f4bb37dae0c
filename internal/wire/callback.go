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

// ConnectResponse is the optional body of a 2xx answer to a connect callback.
// The gateway reads it in AMQP mode only (docs/protocol.md, "AMQP mode"): with a
// RequestID and non-empty Bindings it declares the queue
// sse.conn.<RequestID> and binds it with each routing key. The zero value
// encodes as {}.
type ConnectResponse struct {
	RequestID string   `json:"request_id,omitempty"`
	Bindings  []string `json:"bindings,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Role      string   `json:"role,omitempty"`
}
