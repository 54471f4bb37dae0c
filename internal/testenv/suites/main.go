// Command suites prints which integration suites a test run ran and which
// it skipped, from the log that internal/testenv writes to
// $SSEGATE_SUITE_LOG. scripts/test runs it last:
//
//	go run ./internal/testenv/suites LOG
//
// It exits with status 1 when a suite was skipped, or could not run, and
// suites are required (CI=true); a suite that no test asked for (such as
// one excluded by -run) is listed but fails nothing.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ssegate/ssegate/internal/testenv"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: suites LOG")
		os.Exit(2)
	}
	ok, err := run(os.Stdout, os.Args[1], os.Getenv("CI") == "true")
	if err != nil {
		fmt.Fprintln(os.Stderr, "suites:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run summarizes the log at path on w. It reports whether the run is
// acceptable: with required set, no suite may have been skipped or missing.
func run(w io.Writer, path string, required bool) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	outcomes, err := testenv.Summarize(f, testenv.All)
	if err != nil {
		return false, err
	}
	if err := testenv.WriteSummary(w, outcomes); err != nil {
		return false, err
	}
	ok := true
	for _, o := range outcomes {
		if s := o.Status(); s == "skipped" || s == "missing" {
			if required {
				fmt.Fprintf(w, "FAIL: suite %s %s, and CI=true requires every suite to run\n", o.Suite.Name, s)
				ok = false
			}
		}
	}
	return ok, nil
}
