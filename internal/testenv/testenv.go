package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Suite names an integration suite and what enables it.
type Suite struct {
	// Name is the suite's short name in the summary, for example "rabbitmq".
	Name string
	// Var is the environment variable whose non-empty value enables the
	// suite and is handed to the test, for example "SSEGATE_AMQP_URL".
	Var string
	// RequireVar, when set to 1, makes a missing Var a failure instead of a
	// skip, for example "SSEGATE_REQUIRE_RABBITMQ". CI=true does the same
	// for every suite.
	RequireVar string
	// How tells a developer how to get a value for Var.
	How string
	// Fallback, when not nil, is asked for a value when Var is empty; a
	// non-empty answer enables the suite as Var would have. The browser
	// suite uses it to find Chromium on the PATH.
	Fallback func() string
}

// The suites of this repository.
var (
	RabbitMQ = Suite{
		Name:       "rabbitmq",
		Var:        "SSEGATE_AMQP_URL",
		RequireVar: "SSEGATE_REQUIRE_RABBITMQ",
		How:        "start a broker with: export SSEGATE_AMQP_URL=$(bash sseconn/amqp/testdata/start-rabbitmq.sh)",
	}
	Browser = Suite{
		Name:       "browser",
		Var:        "SSEGATE_CHROMIUM",
		RequireVar: "SSEGATE_REQUIRE_BROWSER",
		How:        "install Debian's chromium (found on the PATH) or export SSEGATE_CHROMIUM=/path/to/chromium",
		Fallback:   chromiumOnPath,
	}
	Gateway1 = Suite{
		Name:       "gateway-gen1",
		Var:        "SSEGATE_REFERENCE_GATEWAY_1",
		RequireVar: "SSEGATE_REQUIRE_GATEWAY",
		How:        "build generation 1 of the reference gateway and export its folder (holding dist/index.js); .ci/run shows how",
	}
	Gateway2 = Suite{
		Name:       "gateway-gen2",
		Var:        "SSEGATE_REFERENCE_GATEWAY_2",
		RequireVar: "SSEGATE_REQUIRE_GATEWAY",
		How:        "build generation 2 of the reference gateway and export its folder (holding dist/index.js); .ci/run shows how",
	}
)

// All lists the suites of this repository, in the order of the summary
// that scripts/test prints.
var All = []Suite{RabbitMQ, Browser, Gateway1, Gateway2}

// Required reports whether a missing s fails instead of skipping.
func (s Suite) Required() bool {
	return os.Getenv("CI") == "true" || (s.RequireVar != "" && os.Getenv(s.RequireVar) == "1")
}

// Require returns the value of s.Var, or else of s.Fallback. When both are
// empty the test is skipped with a message saying how to enable s, or fails
// when s is required.
func Require(t testing.TB, s Suite) string {
	t.Helper()
	v := os.Getenv(s.Var)
	if v == "" && s.Fallback != nil {
		v = s.Fallback()
	}
	if v != "" {
		record(s, "ran")
		return v
	}
	if s.Required() {
		record(s, "missing")
		t.Fatalf("suite %s is required here but %s is not set: %s", s.Name, s.Var, s.How)
	}
	record(s, "skipped")
	t.Skipf("suite %s skipped: %s is not set; to run it, %s", s.Name, s.Var, s.How)
	return ""
}

var logMu sync.Mutex // serializes appends to SSEGATE_SUITE_LOG within a process

func record(s Suite, status string) {
	path := os.Getenv("SSEGATE_SUITE_LOG")
	if path == "" {
		return
	}
	logMu.Lock()
	defer logMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s %s\n", s.Name, status, s.Var)
}

// chromiumOnPath returns the path of Debian's or Ubuntu's Chromium binary on
// the PATH, or "".
func chromiumOnPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}
