package task_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/task"
)

// noBrowser is a task.Conn for examples without a gateway: no browser ever
// connects, so nothing is sent.
type noBrowser struct{}

func (noBrowser) Register(context.Context, string, string) error { return nil }

func (noBrowser) Unregister(string) bool { return false }

func (noBrowser) Send(context.Context, string, sseconn.Event) error {
	return sseconn.ErrNotConnected
}

func (noBrowser) SendAndClose(context.Context, string, sseconn.Event) error {
	return sseconn.ErrNotConnected
}

// ExampleRunner_Cancel cancels a running task: its context is cancelled,
// and a task function that returns the context's error ends the task as
// cancelled.
func ExampleRunner_Cancel() {
	ctx := context.Background()
	runner, err := task.New(noBrowser{})
	if err != nil {
		log.Fatal(err)
	}
	defer runner.Shutdown(ctx)

	running := make(chan struct{})
	info, err := runner.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
		close(running)
		<-ctx.Done() // a long job that honours its context
		return nil, ctx.Err()
	})
	if err != nil {
		log.Fatal(err)
	}
	<-running

	fmt.Println("cancel:", runner.Cancel(info.ID))
	final, err := runner.Wait(ctx, info.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", final.Status)

	err = runner.Cancel("no-such-task")
	fmt.Println("unknown task:", errors.Is(err, task.ErrNotFound))
	// Output:
	// cancel: <nil>
	// status: cancelled
	// unknown task: true
}

// ExampleRunner_Get reads a task's state, for example to answer a status
// request from a page that does not follow the stream.
func ExampleRunner_Get() {
	ctx := context.Background()
	runner, err := task.New(noBrowser{})
	if err != nil {
		log.Fatal(err)
	}
	defer runner.Shutdown(ctx)

	info, err := runner.Start(ctx, func(ctx context.Context, p *task.Progress) (any, error) {
		p.Report("converted 3 of 4 pages", 0.75)
		return map[string]int{"pages": 4}, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("started:", info.Status)
	if _, err := runner.Wait(ctx, info.ID); err != nil {
		log.Fatal(err)
	}

	got, ok := runner.Get(info.ID)
	fmt.Println("known:", ok)
	fmt.Println("status:", got.Status, "done:", got.Status.Done())
	fmt.Printf("progress: %q %v\n", got.Progress.Text, got.Progress.Value)
	fmt.Println("result:", string(got.Result))
	fmt.Println("finished at a known time:", !got.Finished.IsZero())

	_, ok = runner.Get("no-such-task")
	fmt.Println("unknown task known:", ok)
	// Output:
	// started: pending
	// known: true
	// status: completed done: true
	// progress: "converted 3 of 4 pages" 0.75
	// result: {"pages":4}
	// finished at a known time: true
	// unknown task known: false
}
