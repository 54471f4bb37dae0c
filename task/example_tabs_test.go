package task_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/tab"
	"github.com/ssegate/ssegate/task"
)

// printTabs is a task.Tabs that prints what it is asked to send (a
// *tab.Hub sends it to the audience's tab streams).
type printTabs struct{}

func (printTabs) Send(_ context.Context, aud tab.Audience, ev sseconn.Event) error {
	var m task.Message
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("to %s: %s %s\n", aud, ev.Name, m.EventType)
	return nil
}

// A task started For a tab sends its events to the tab's stream, with its
// task_id, and no connection_close: the tab's stream outlives the task.
func ExampleFor() {
	runner, err := task.New(printConn{}, task.WithTabs(printTabs{}), task.WithWorkers(1))
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = runner.Shutdown(context.Background()) }()
	ctx := context.Background()
	info, err := runner.Start(ctx, func(_ context.Context, p *task.Progress) (any, error) {
		p.Report("half", 0.5)
		return "done", nil
	}, task.For(tab.To("tab-1", "alice")))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := runner.Wait(ctx, info.ID); err != nil {
		log.Fatal(err)
	}
	if err := runner.Shutdown(ctx); err != nil { // waits for the sends
		log.Fatal(err)
	}
	fmt.Printf("stream URL: %q\n", info.StreamURL)
	// Output:
	// to tab tab-1: task_event task_started
	// to tab tab-1: task_event progress_update
	// to tab tab-1: task_event task_completed
	// stream URL: ""
}
