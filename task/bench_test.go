package task

import (
	"context"
	"fmt"
	"testing"

	"github.com/ssegate/ssegate/callback"
	"github.com/ssegate/ssegate/sseconn"
)

// nopConn accepts everything and sends nothing.
type nopConn struct{}

func (nopConn) Register(context.Context, string, string) error            { return nil }
func (nopConn) Unregister(string) bool                                    { return true }
func (nopConn) Send(context.Context, string, sseconn.Event) error         { return nil }
func (nopConn) SendAndClose(context.Context, string, sseconn.Event) error { return nil }

// benchTask starts a task that hands its progress handle to the benchmark
// and blocks until the benchmark is done.
func benchTask(b *testing.B, r *Runner) (*Progress, Info) {
	b.Helper()
	handle := make(chan *Progress)
	done := make(chan struct{})
	b.Cleanup(func() { close(done) })
	info, err := r.Start(context.Background(), func(_ context.Context, p *Progress) (any, error) {
		handle <- p
		<-done
		return nil, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return <-handle, info
}

// BenchmarkReport measures a progress report: with no browser connected
// (the report replaces the previous one in the log) and with one (the
// report is also sent, or coalesced while a send is under way).
func BenchmarkReport(b *testing.B) {
	for _, connected := range []bool{false, true} {
		b.Run(fmt.Sprintf("connected=%v", connected), func(b *testing.B) {
			r := newTestRunner(b, nopConn{})
			p, info := benchTask(b, r)
			if connected {
				connect(b, r, info.StreamURL, "tok")
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p.Report("copying files", float64(i%1000)/1000)
			}
		})
	}
}

// BenchmarkReplay measures a connect that replays a finished task's
// compacted log (four sends).
func BenchmarkReplay(b *testing.B) {
	r := newTestRunner(b, nopConn{})
	info, err := r.Start(context.Background(), func(_ context.Context, p *Progress) (any, error) {
		p.Report("done", 1)
		return map[string]int{"rows": 1000}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	waitDone(b, r, info.ID)
	req := connectReq(b, r, info.StreamURL, "tok")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Connect(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStart measures starting and running a trivial task.
func BenchmarkStart(b *testing.B) {
	r := newTestRunner(b, nopConn{}, WithRetention(1<<62))
	fn := func(context.Context, *Progress) (any, error) { return nil, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		info, err := r.Start(ctx, fn)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := r.Wait(ctx, info.ID); err != nil {
			b.Fatal(err)
		}
	}
}

var _ callback.Service = (*Runner)(nil)
