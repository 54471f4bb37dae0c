package main

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Example runs the quickstart: the browser that connects after the task
// finished gets its compacted log.
func Example() {
	if err := run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// task_started {}
	// progress_update {"text":"halfway","value":0.5}
	// task_completed {"file":"report.pdf"}
	// connection_close {"reason":"task_completed"}
}
