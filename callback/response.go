package callback

// ConnectResponse is the optional body of a successful connect answer.
//
// The gateway reads it in AMQP mode only: with a RequestID and non-empty
// Bindings it declares the queue sse.conn.<RequestID> and binds it to its
// topic exchange with each routing key, so that messages published with
// those keys reach the browser's stream. In HTTP mode the gateway ignores
// it. Package sseconn/amqp's Bindings builds one.
//
// Empty fields are left out of the JSON: the zero value, like a nil
// *ConnectResponse, answers {}.
type ConnectResponse struct {
	// RequestID names the stream's queue, sse.conn.<RequestID>. It is sent
	// as "request_id".
	RequestID string `json:"request_id,omitempty"`
	// Bindings are the routing keys the queue is bound with, for example
	// "connection.<RequestID>" and "broadcast". It is sent as "bindings".
	Bindings []string `json:"bindings,omitempty"`
	// Subject is the authenticated user the stream belongs to, if any, as
	// bound by "subject.<Subject>". The reference gateway does not read it.
	// It is sent as "subject".
	Subject string `json:"subject,omitempty"`
	// Role is the user's role, if any, as bound by "role.<Role>". The
	// reference gateway does not read it. It is sent as "role".
	Role string `json:"role,omitempty"`
}
