package amqp_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/ssegate/ssegate/sseconn"
	"github.com/ssegate/ssegate/sseconn/amqp"
)

// rabbitmqctl runs rabbitmqctl against the local test broker.
func rabbitmqctl(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
	if err != nil {
		return errors.New(err.Error() + ": " + string(out))
	}
	return nil
}

// TestBlocked raises a memory alarm on the broker, which then blocks
// publishing connections. It needs the broker on this machine and
// rabbitmqctl, and skips without them.
func TestBlocked(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		t.Skip("the broker is not on this machine: cannot raise an alarm")
	}
	if _, err := exec.LookPath("rabbitmqctl"); err != nil {
		t.Skip("rabbitmqctl not found: cannot raise an alarm")
	}
	p := e.dial(amqp.WithSendTimeout(300 * time.Millisecond))
	reqID := e.id("tab")
	c := e.consume(e.queue(reqID, nil, amqp.ConnectionKey(reqID)))
	if err := p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "before"}); err != nil {
		t.Fatal(err)
	}
	c.next()

	if err := rabbitmqctl(t, "set_vm_memory_high_watermark", "0.0000001"); err != nil {
		t.Skipf("cannot raise an alarm: %v", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := rabbitmqctl(t, "set_vm_memory_high_watermark", "0.4"); err != nil {
				t.Errorf("clear the alarm: %v", err)
			}
		}
	}
	t.Cleanup(restore)

	// The first publish makes the broker block the connection; it is not
	// confirmed while blocked. Then publishes fail at once.
	var sent int
	eventually(t, "publishes fail with ErrBlocked", func() bool {
		err := p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "held"})
		switch {
		case errors.Is(err, amqp.ErrBlocked):
			return true
		case errors.Is(err, amqp.ErrUnconfirmed):
			sent++
		default:
			t.Fatalf("publish while the broker is out of memory: error = %v", err)
		}
		return false
	})
	start := time.Now()
	if err := p.Broadcast(testCtx(t), sseconn.Event{Data: "x"}); !errors.Is(err, amqp.ErrBlocked) {
		t.Fatalf("error = %v, want ErrBlocked", err)
	}
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond {
		t.Errorf("blocked publish took %v, want it to fail at once", elapsed)
	}
	if !p.Connected() {
		t.Error("Connected() = false while blocked")
	}

	restore()
	var after error
	eventually(t, "the connection is unblocked", func() bool {
		after = p.PublishToConnection(testCtx(t), reqID, sseconn.Event{Data: "after"})
		return !errors.Is(after, amqp.ErrBlocked)
	})
	if after != nil {
		t.Fatalf("publish after the alarm: %v", after)
	}
	// The messages written before the block took effect were not lost.
	for range sent {
		if got := string(c.next().Body); got != `{"data":"held"}` {
			t.Fatalf("body = %s, want the held message", got)
		}
	}
	if got := string(c.next().Body); got != `{"data":"after"}` {
		t.Fatalf("body = %s, want the message published after the alarm", got)
	}
}
