package frontendtest

import (
	"encoding/json"

	"github.com/ssegate/ssegate/sseconn/gatewaytest"
)

// TaskMessage is the JSON of a task_event as both generations of the page
// read it: {"event_type","task_id","timestamp","data"}.
type TaskMessage struct {
	EventType string          `json:"event_type"`
	TaskID    string          `json:"task_id"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Envelope is a generation-2 gateway's unnamed message, {"type","payload"},
// as the generation-2 worker reads it in onmessage.
type Envelope struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// envelope reads ev as onmessage would: an unnamed event whose data is a
// JSON object with a non-empty "type". It reports false for anything else
// (named events go to their own listeners, not to onmessage; data that is
// not JSON is ignored by the worker).
func envelope(ev gatewaytest.Event) (Envelope, bool) {
	if ev.Name != "" && ev.Name != "message" {
		return Envelope{}, false
	}
	var env Envelope
	if err := json.Unmarshal([]byte(ev.Data), &env); err != nil || env.Type == "" {
		return Envelope{}, false
	}
	return env, true
}

// taskMessage decodes the JSON of a task_event; it reports false for data
// that does not parse, which the page's JSON.parse would throw on.
func taskMessage(data []byte) (TaskMessage, bool) {
	var m TaskMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return TaskMessage{}, false
	}
	return m, true
}
