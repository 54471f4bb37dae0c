package task

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/ssegate/ssegate/sseconn"
)

// EventName is the SSE event name of every event the runner sends.
const EventName = "task_event"

// The event types, the "event_type" field of a [Message].
const (
	// TypeStarted is sent when a worker begins to run the task. Data: {}.
	TypeStarted = "task_started"
	// TypeProgress carries the latest progress report. Data: an [Update],
	// {"text":…,"value":…}.
	TypeProgress = "progress_update"
	// TypeCompleted is sent when the task function returned a result.
	// Data: the JSON encoding of that result.
	TypeCompleted = "task_completed"
	// TypeFailed is sent when the task function returned an error or
	// panicked, or its result could not be sent; also, by default, when the
	// task was cancelled (code [CodeCancelled]), and to a stream opened for
	// an unknown or expired task (code [CodeNotFound]). Data: a [Failure],
	// {"error":…} or {"error":…,"code":…}.
	TypeFailed = "task_failed"
	// TypeCancelled is sent when the task was cancelled by [Runner.Cancel]
	// or [Runner.Shutdown], only with [WithCancelledEvent]: by default a
	// cancelled task ends with TypeFailed and code [CodeCancelled]. Data: {}.
	TypeCancelled = "task_cancelled"
	// TypeClose follows every terminal event and is sent with close, so the
	// gateway ends the stream after it. Data: {"reason":…}, where the reason
	// says why the stream ends: "task_completed", "task_failed",
	// "task_cancelled" (whichever event a cancelled task ended with) or
	// [ReasonNotFound].
	TypeClose = "connection_close"
)

// ReasonNotFound is the reason of the connection_close event that ends the
// stream of an unknown or expired task.
const ReasonNotFound = "task_not_found"

// The codes of task_failed events that a task function's error did not
// cause: the "code" field of a [Failure]. A failure the task function
// reports has no code.
const (
	// CodeNotFound ends the stream of an unknown task, or of a finished
	// task whose retention has expired. Error: "task not found".
	CodeNotFound = "TASK_NOT_FOUND"
	// CodeCancelled ends a cancelled task, unless [WithCancelledEvent] is
	// given. Error: "task cancelled".
	CodeCancelled = "CANCELLED"
)

// Failure is the data of a task_failed event: the error text to show, and
// a code for failures the library makes itself ([CodeNotFound],
// [CodeCancelled]); the code is omitted otherwise.
type Failure struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// Message is the JSON data of every task_event. Timestamp is RFC 3339 in
// UTC with milliseconds, for example "2026-01-02T15:04:05.123Z".
type Message struct {
	EventType string          `json:"event_type"`
	TaskID    string          `json:"task_id"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// timestampLayout is RFC 3339 with milliseconds; in UTC it ends with "Z".
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

var emptyObject = json.RawMessage("{}")

// newEvent encodes a task_event. data must be valid JSON.
func newEvent(eventType, taskID string, ts time.Time, data []byte) sseconn.Event {
	b := make([]byte, 0, 96+len(taskID)+len(data))
	b = appendHead(b, eventType, taskID, ts)
	b = append(b, data...)
	b = append(b, '}')
	return sseconn.Event{Name: EventName, Data: string(b)}
}

// progressEvent encodes a progress_update event; it is newEvent with
// progressData, in one buffer.
func progressEvent(taskID string, ts time.Time, u Update) sseconn.Event {
	b := make([]byte, 0, 128+len(taskID)+len(u.Text))
	b = appendHead(b, TypeProgress, taskID, ts)
	b = appendProgress(b, u)
	b = append(b, '}')
	return sseconn.Event{Name: EventName, Data: string(b)}
}

// appendHead appends a task_event up to and including `"data":`.
func appendHead(b []byte, eventType, taskID string, ts time.Time) []byte {
	b = append(b, `{"event_type":"`...)
	b = append(b, eventType...)
	b = append(b, `","task_id":`...)
	b = appendString(b, taskID)
	b = append(b, `,"timestamp":"`...)
	b = ts.UTC().AppendFormat(b, timestampLayout)
	return append(b, `","data":`...)
}

// progressData encodes an [Update] as JSON.
func progressData(u Update) []byte {
	return appendProgress(make([]byte, 0, 32+len(u.Text)), u)
}

// appendProgress appends u as JSON.
func appendProgress(b []byte, u Update) []byte {
	b = append(b, `{"text":`...)
	b = appendString(b, u.Text)
	b = append(b, `,"value":`...)
	b = strconv.AppendFloat(b, u.Value, 'f', -1, 64)
	return append(b, '}')
}

// reasonData encodes {"reason":reason}.
func reasonData(reason string) []byte {
	b := appendString([]byte(`{"reason":`), reason)
	return append(b, '}')
}

// failureData encodes a [Failure]: {"error":msg}, or {"error":msg,"code":code}
// when code is not empty.
func failureData(msg, code string) []byte {
	b := appendString([]byte(`{"error":`), msg)
	if code != "" {
		b = append(b, `,"code":`...)
		b = appendString(b, code)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	if safeASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// safeASCII reports whether s needs no escaping in a JSON string.
func safeASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
