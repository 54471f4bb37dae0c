package testenv

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Outcome is what a run of the tests did with one suite, as read from the
// log that [Require] writes.
type Outcome struct {
	Suite Suite
	// Ran, Skipped and Missing count the tests that ran the suite, that
	// skipped it and that failed because it was required but not set up.
	Ran, Skipped, Missing int
}

// Status is "ran" when every test of the suite ran, "missing" when one
// failed for want of it, "skipped" when one skipped it, and "no tests" when
// no test asked for it.
func (o Outcome) Status() string {
	switch {
	case o.Missing > 0:
		return "missing"
	case o.Skipped > 0:
		return "skipped"
	case o.Ran > 0:
		return "ran"
	}
	return "no tests"
}

// Summarize reads a suite log and returns the outcome of each of suites, in
// order, followed by any suite the log names that suites does not.
func Summarize(log io.Reader, suites []Suite) ([]Outcome, error) {
	outcomes := make([]Outcome, len(suites))
	index := map[string]int{}
	for i, s := range suites {
		outcomes[i].Suite = s
		index[s.Name] = i
	}
	sc := bufio.NewScanner(log)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return nil, fmt.Errorf("testenv: suite log line %d: want \"<suite> <status> <variable>\", got %q", n, sc.Text())
		}
		i, ok := index[f[0]]
		if !ok {
			i = len(outcomes)
			index[f[0]] = i
			outcomes = append(outcomes, Outcome{Suite: Suite{Name: f[0], Var: f[2]}})
		}
		o := &outcomes[i]
		switch f[1] {
		case "ran":
			o.Ran++
		case "skipped":
			o.Skipped++
		case "missing":
			o.Missing++
		default:
			return nil, fmt.Errorf("testenv: suite log line %d: unknown status %q", n, f[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testenv: read suite log: %w", err)
	}
	return outcomes, nil
}

// WriteSummary writes one line per outcome: the suite, its status, the
// number of tests and the variable that enables it, with how to set it for
// a suite that did not run.
func WriteSummary(w io.Writer, outcomes []Outcome) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "suite\tresult\ttests\tenabled by")
	for _, o := range outcomes {
		how := ""
		if o.Status() != "ran" && o.Suite.How != "" {
			how = " (" + o.Suite.How + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s%s\n", o.Suite.Name, o.Status(), o.Ran+o.Skipped+o.Missing, o.Suite.Var, how)
	}
	return tw.Flush()
}
