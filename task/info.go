package task

import (
	"encoding/json"
	"time"
)

// Status is the state of a task.
type Status string

// The states of a task. A task is pending until a worker runs it, then
// running, then completed, failed or cancelled. A pending task that is
// cancelled never runs.
const (
	StatusPending   Status = "pending"
	StatusRunning   Status = "running"
	StatusCompleted Status = "completed"
	StatusFailed    Status = "failed"
	StatusCancelled Status = "cancelled"
)

// Done reports whether s is a final state: completed, failed or cancelled.
func (s Status) Done() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// Update is one progress report: a text for people and a fraction done in
// [0, 1]. It is also the data of a progress_update event.
type Update struct {
	Text  string  `json:"text"`
	Value float64 `json:"value"`
}

// Info is a snapshot of a task.
type Info struct {
	// ID is the task's id, a random UUID.
	ID string
	// StreamURL is the URL, relative to the gateway, that a browser opens
	// to follow the task, for example /api/sse/tasks?task_id=<id>. It is
	// empty for a task started [For] tabs: its events go to their streams.
	StreamURL string
	// Status is the task's state when the snapshot was taken.
	Status Status
	// Progress is the latest progress report; zero before the first one.
	Progress Update
	// Result is the JSON encoding of a completed task's result.
	Result json.RawMessage
	// Error is the error text of a failed task, as sent to the browser.
	Error string
	// Created, Started and Finished are when the task was started with
	// [Runner.Start], began to run and finished; zero until then.
	Created, Started, Finished time.Time
}
