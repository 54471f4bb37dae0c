package task

import "errors"

// Errors returned by [Runner] methods. Compare with errors.Is.
var (
	// ErrShutdown is returned by [Runner.Start] once [Runner.Shutdown] has
	// been called.
	ErrShutdown = errors.New("task: runner shut down")
	// ErrQueueFull is returned by [Runner.Start] when every worker is busy
	// and the queue (see [WithQueueSize]) is full.
	ErrQueueFull = errors.New("task: queue full")
	// ErrNotFound is returned by [Runner.Cancel] and [Runner.Wait] for an
	// unknown task or a finished one whose retention has expired.
	ErrNotFound = errors.New("task: not found")
	// ErrNilFunc is returned by [Runner.Start] for a nil [Func].
	ErrNilFunc = errors.New("task: nil func")
)
