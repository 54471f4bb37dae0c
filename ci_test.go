package ssegate_test

import (
	"os"
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
