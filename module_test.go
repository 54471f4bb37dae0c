package ssegate_test

import (
	"os"
	"strings"
	"testing"
)

// TestModuleRequirements checks that the root module requires none of the
// modules that only the examples' browser tests (chromedp) or the AMQP
// publisher (amqp091-go) need: those live in modules of their own, so that
// they never enter the module graph of a user who imports the library.
func TestModuleRequirements(t *testing.T) {
	b, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []string{"github.com/chromedp/", "github.com/rabbitmq/amqp091-go"} {
		if strings.Contains(string(b), mod) {
			t.Errorf("go.mod requires %s; it belongs in the go.mod of examples or sseconn/amqp", mod)
		}
	}
	for _, name := range []string{"examples/go.mod", "sseconn/amqp/go.mod"} {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s is no module of its own: %v", name, err)
		}
	}
}
