package ssegate_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFault9CIRunsItsOwnBroker checks that CI starts a RabbitMQ node of its
// own, on a port, node name and data folder of its own, and stops it at the
// end, instead of trusting a broker it did not start (issue 12, fault 9).
func TestFault9CIRunsItsOwnBroker(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	run := read(".ci/run")
	script := read("sseconn/amqp/testdata/start-rabbitmq.sh")
	checks := []struct {
		what string
		ok   bool
	}{
		{"CI names its own node", strings.Contains(run, "export RABBITMQ_NODENAME=")},
		{"CI stops the node on exit", strings.Contains(run, "trap 'bash sseconn/amqp/testdata/start-rabbitmq.sh stop' EXIT")},
		{"the script has a stop command", strings.Contains(script, `"${1:-}" = stop`)},
		{"the script never reuses a running broker", !strings.Contains(script, "already running\"")},
		{"the script keeps its data apart", strings.Contains(script, "RABBITMQ_MNESIA_BASE=")},
		{"the script does not default to port 5672", !strings.Contains(script, "RABBITMQ_NODE_PORT:-5672")},
		{"the tests' rabbitmqctl targets the node", strings.Contains(run, "RABBITMQ_NODENAME") && strings.Contains(script, "-n \"$RABBITMQ_NODENAME\"")},
	}
	var failed []string
	for _, c := range checks {
		if !c.ok {
			failed = append(failed, c.what)
		}
	}
	if diff := cmp.Diff([]string(nil), failed); diff != "" {
		t.Errorf("CI broker set-up (-want +got):\n%s", diff)
	}
}

// TestStartRabbitMQStopLeavesOtherNodesAlone checks that "start-rabbitmq.sh
// stop" for a node that never started in the data folder (a start that
// failed because another node of ours holds the port, and so the folder of
// the same default name) neither stops that node nor deletes its data.
func TestStartRabbitMQStopLeavesOtherNodesAlone(t *testing.T) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("ssegate-rabbitmq-test-%d", os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	marker := filepath.Join(dir, "node")
	if err := os.WriteFile(marker, []byte("other@localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "sseconn/amqp/testdata/start-rabbitmq.sh", "stop")
	cmd.Env = append(os.Environ(), "SSEGATE_RABBITMQ_DIR="+dir, "RABBITMQ_NODENAME=mine@localhost")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "nothing to stop") {
		t.Errorf("stop said %q, want it to say there was nothing to stop", out)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "other@localhost\n" {
		t.Errorf("the other node's folder was touched: %q, %v", b, err)
	}
}
