package wire

// MaxBodyBytes is the reference gateway's JSON body limit for
// /internal/send: 100 KiB for the whole request body.
const MaxBodyBytes = 100 * 1024

// SendPath is the gateway's push endpoint.
const SendPath = "/internal/send"

// Send statuses of a 200 answer to /internal/send.
const (
	StatusOK       = "ok"
	StatusBuffered = "buffered"
)

// Error codes of the gateway's JSON error bodies.
const (
	CodeTokenMissing       = "INVALID_TOKEN_MISSING"
	CodeEventType          = "INVALID_EVENT_TYPE"
	CodeEventDataMissing   = "INVALID_EVENT_DATA_MISSING"
	CodeEventNameType      = "INVALID_EVENT_NAME_TYPE"
	CodeCloseType          = "INVALID_CLOSE_TYPE"
	CodeTokenNotFound      = "TOKEN_NOT_FOUND"
	CodeWriteFailed        = "WRITE_FAILED"
	CodeBackendAuthFailed  = "BACKEND_AUTH_FAILED"
	CodeBackendForbidden   = "BACKEND_FORBIDDEN"
	CodeBackendError       = "BACKEND_ERROR"
	CodeGatewayTimeout     = "GATEWAY_TIMEOUT"
	CodeBackendUnavailable = "BACKEND_UNAVAILABLE"
)

// Event is one SSE event. An empty Name is an unnamed event. Data is always a
// string; a generation-2 gateway embeds the Data of a named event raw in a
// JSON envelope, so it must then be valid JSON.
type Event struct {
	Name string `json:"name,omitempty"`
	Data string `json:"data"`
}

// SendRequest is the body of POST /internal/send. A request with neither
// Event nor Close is a valid no-op that tells whether Token is alive.
type SendRequest struct {
	Token string `json:"token"`
	Event *Event `json:"event,omitempty"`
	Close bool   `json:"close,omitempty"`
}

// SendResponse is the body of a 200 answer to /internal/send.
type SendResponse struct {
	Status string `json:"status"`
}

// ErrorBody is the gateway's JSON error body.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of an ErrorBody.
type ErrorDetail struct {
	Message string `json:"message"`
	Code    string `json:"code"`
}

// AMQPMessage is the body of a message published to the gateway's topic
// exchange in AMQP mode. The key is "event" (not "event_name", whatever the
// reference gateway's README says).
type AMQPMessage struct {
	Event string `json:"event,omitempty"`
	Data  string `json:"data"`
}
