// Command benchratio measures benchmark pairs in interleaved rounds and
// reports, for each pair, the median of the per-round throughput ratios with
// their minimum and maximum.
//
// A pair is two sub-benchmarks that differ only in their last name element,
// for example BenchmarkSend/manager and BenchmarkSend/plain. Each round runs
// every side once, as separate processes of one test binary, and alternates
// which side runs first, so that load drifting on a shared machine hits both
// sides alike. The ratio of a round is ns/op(base) ÷ ns/op(lib): 1.00 means
// equal throughput, 0.95 means the library reaches 95% of the baseline's.
// Where the benchmarks report cpu-ns/op (the process's CPU time per
// operation), the same ratio by CPU is reported too: it moves far less than
// wall-clock time when other processes compete for the cores.
//
// Usage, from the repository root:
//
//	go run ./scripts/benchratio -pkg ./sseconn -bench '^BenchmarkSend$' \
//	    -lib manager -base plain-timeout,plain -rounds 10 -out /tmp/send.txt
//	benchstat -col /side /tmp/send.txt
//
// With -count N, each round is one process that runs every side N times
// (go test repeats each sub-benchmark N times before the next one), and the
// k-th run of each side makes a round. The sides then run in a fixed order
// within the process, which can bias the ratio (a side running after
// another's clean-up, say); the default, one process per side in
// alternating order, has no such bias. BenchmarkSendInterleaved and
// BenchmarkGatewayInterleaved alternate the sides send by send instead.
//
// -bench selects the benchmarks up to, not including, the side's name
// element; the side is appended as the last element (/^manager$). The raw
// output of every run is written to -out in benchstat's format.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

// result is one benchmark line: the name without the side and GOMAXPROCS
// suffix, and its metrics by unit.
type result struct {
	name    string
	side    string
	metrics map[string]float64
}

func run() error {
	pkg := flag.String("pkg", "./sseconn", "package holding the benchmarks")
	bench := flag.String("bench", "", "benchmark pattern, without the side's element (required)")
	lib := flag.String("lib", "manager", "the library's side: last name element")
	base := flag.String("base", "plain", "comma-separated baseline sides")
	rounds := flag.Int("rounds", 10, "interleaved rounds")
	benchtime := flag.String("benchtime", "1s", "-test.benchtime of each run")
	out := flag.String("out", "", "file for the raw benchmark output (benchstat input)")
	extra := flag.String("args", "", "extra test binary flags, space-separated")
	count := flag.Int("count", 1, "with > 1, each round is one process that runs every side with -test.count; the k-th run of each side makes a round")
	flag.Parse()
	if *bench == "" {
		return fmt.Errorf("-bench is required")
	}
	bases := strings.Split(*base, ",")
	sides := append([]string{*lib}, bases...)

	dir, err := os.MkdirTemp("", "benchratio")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bench.test")
	build := exec.Command("go", "test", "-c", "-o", bin, *pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build %s: %w", *pkg, err)
	}
	pkgDir, err := packageDir(*pkg)
	if err != nil {
		return err
	}

	var raw bytes.Buffer
	// perRound[r] holds the results of round r.
	var perRound [][]result
	for r := range *rounds {
		// With -count, one process per round runs every side count
		// times. Otherwise each side is a process of its own, their
		// order alternating between rounds.
		var runs [][]string
		if *count > 1 {
			quoted := make([]string, len(sides))
			for i, side := range sides {
				quoted[i] = regexp.QuoteMeta(side)
			}
			runs = [][]string{{"(" + strings.Join(quoted, "|") + ")", strconv.Itoa(*count)}}
		} else {
			order := slices.Clone(sides)
			if r%2 == 1 {
				slices.Reverse(order)
			}
			for _, side := range order {
				runs = append(runs, []string{regexp.QuoteMeta(side), "1"})
			}
		}
		var res []result
		for _, run := range runs {
			args := []string{"-test.run", "^$", "-test.bench", *bench + "/^" + run[0] + "$",
				"-test.benchmem", "-test.benchtime", *benchtime, "-test.count", run[1]}
			if *extra != "" {
				args = append(args, strings.Fields(*extra)...)
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = pkgDir
			var stdout bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				os.Stderr.Write(stdout.Bytes())
				return fmt.Errorf("round %d: %w", r+1, err)
			}
			raw.Write(stdout.Bytes())
			res = append(res, parse(&stdout, sides)...)
		}
		perRound = append(perRound, split(res)...)
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	if *out != "" {
		if err := os.WriteFile(*out, raw.Bytes(), 0o644); err != nil {
			return err
		}
	}
	report(os.Stdout, perRound, *lib, bases)
	return nil
}

// packageDir returns the directory of pkg, where its tests run.
func packageDir(pkg string) (string, error) {
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads benchmark lines, keeping those whose last name element is one
// of sides.
func parse(r io.Reader, sides []string) []result {
	var rs []result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		full := procsSuffix.ReplaceAllString(f[0], "")
		i := strings.LastIndexByte(full, '/')
		if i < 0 || !slices.Contains(sides, full[i+1:]) {
			continue
		}
		res := result{name: full[:i], side: full[i+1:], metrics: map[string]float64{}}
		for j := 2; j+1 < len(f); j += 2 {
			if v, err := strconv.ParseFloat(f[j], 64); err == nil {
				res.metrics[f[j+1]] = v
			}
		}
		rs = append(rs, res)
	}
	return rs
}

// report prints, per benchmark and baseline, the median, minimum and
// maximum of the per-round ratios, and the medians of allocs/op.
func report(w io.Writer, perRound [][]result, lib string, bases []string) {
	var names []string
	for _, rs := range perRound {
		for _, r := range rs {
			if !slices.Contains(names, r.name) {
				names = append(names, r.name)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tlib ÷ base\tthroughput ratio: median\tmin\tmax\trounds\tby CPU: median\tmin\tmax\tallocs/op lib\tbase\tB/op lib\tbase")
	for _, name := range names {
		for _, b := range bases {
			var ratios, cpuRatios, libAllocs, baseAllocs, libBytes, baseBytes []float64
			for _, rs := range perRound {
				l, okL := find(rs, name, lib)
				p, okP := find(rs, name, b)
				if !okL || !okP || l.metrics["ns/op"] == 0 {
					continue
				}
				ratios = append(ratios, p.metrics["ns/op"]/l.metrics["ns/op"])
				if c := l.metrics["cpu-ns/op"]; c > 0 {
					cpuRatios = append(cpuRatios, p.metrics["cpu-ns/op"]/c)
				}
				libAllocs = append(libAllocs, l.metrics["allocs/op"])
				baseAllocs = append(baseAllocs, p.metrics["allocs/op"])
				libBytes = append(libBytes, l.metrics["B/op"])
				baseBytes = append(baseBytes, p.metrics["B/op"])
			}
			if len(ratios) == 0 {
				continue
			}
			cpu := "-\t-\t-"
			if len(cpuRatios) > 0 {
				cpu = fmt.Sprintf("%.3f\t%.3f\t%.3f", median(cpuRatios), slices.Min(cpuRatios), slices.Max(cpuRatios))
			}
			fmt.Fprintf(tw, "%s\t%s ÷ %s\t%.3f\t%.3f\t%.3f\t%d\t%s\t%.0f\t%.0f\t%.0f\t%.0f\n",
				name, lib, b, median(ratios), slices.Min(ratios), slices.Max(ratios), len(ratios), cpu,
				median(libAllocs), median(baseAllocs), median(libBytes), median(baseBytes))
		}
	}
	tw.Flush()
}

// split splits the results of one process into rounds: the k-th result of
// each benchmark and side belongs to round k.
func split(rs []result) [][]result {
	var rounds [][]result
	seen := map[[2]string]int{}
	for _, r := range rs {
		k := seen[[2]string{r.name, r.side}]
		seen[[2]string{r.name, r.side}] = k + 1
		for len(rounds) <= k {
			rounds = append(rounds, nil)
		}
		rounds[k] = append(rounds[k], r)
	}
	return rounds
}

func find(rs []result, name, side string) (result, bool) {
	for _, r := range rs {
		if r.name == name && r.side == side {
			return r, true
		}
	}
	return result{}, false
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
