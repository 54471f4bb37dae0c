package ssegate_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/internal/testenv"
)

// block is one fenced code block of README.md.
type block struct {
	lang string
	code string
	line int // of the opening fence
}

// readme returns README.md and its fenced code blocks.
func readme(t *testing.T) (string, []block) {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks []block
		cur    *block
		code   strings.Builder
	)
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimPrefix(line, "```"), line: i + 1}
			code.Reset()
		case cur != nil && line == "```":
			cur.code = code.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			code.WriteString(line)
			code.WriteByte('\n')
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: unterminated code block", cur.line)
	}
	return string(b), blocks
}

// TestREADMEOpening checks that README opens with the two set-up commands,
// in one code block: the demo and the whole test suite.
func TestREADMEOpening(t *testing.T) {
	text, blocks := readme(t)
	first := strings.SplitN(text, "\n", 3)
	if first[0] != "# ssegate" || first[1] != "" || !strings.HasPrefix(first[2], "```sh\n") {
		t.Fatalf("README.md must open with the title and then the set-up code block; it opens with %q", first)
	}
	var commands []string
	for line := range strings.SplitSeq(strings.TrimSpace(blocks[0].code), "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		commands = append(commands, strings.TrimSpace(cmd))
	}
	want := []string{"go run ./examples/tasks", "bash scripts/test"}
	if diff := cmp.Diff(want, commands); diff != "" {
		t.Errorf("set-up commands (-want +got):\n%s", diff)
	}
}

// TestREADMEGoBlocks checks that every Go code block of README is a real
// file of the repository, verbatim, so that it compiles and is tested, and
// that the files meant to be shown are.
func TestREADMEGoBlocks(t *testing.T) {
	shown := []string{
		"examples/quickstart/main.go",     // the quickstart; its Example checks its output
		"examples/yourapp/stream_test.go", // how to test with gatewaytest
		"examples/yourapp/events.go",      // the recipe for your own events; events_test.go tests it
	}
	files := map[string]string{}
	for _, name := range shown {
		b, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		files[string(b)] = name
	}
	_, blocks := readme(t)
	found := map[string]bool{}
	for _, b := range blocks {
		if b.lang != "go" {
			continue
		}
		name, ok := files[b.code]
		if !ok {
			t.Errorf("README.md:%d: this Go block is not the verbatim content of any of %q; update README or the file", b.line, shown)
			continue
		}
		found[name] = true
	}
	for _, name := range shown {
		if !found[name] {
			t.Errorf("README.md does not show %s verbatim in a ```go block", name)
		}
	}
}

// documented lists the packages whose options, metrics and docs README
// must cover, by directory and README section title.
var documented = []struct{ dir, section string }{
	{"sseconn", "sseconn"},
	{"callback", "callback"},
	{"task", "task"},
	{"version", "version"},
	{"tab", "tab"},
	{"sseconn/gatewaytest", "gatewaytest"},
	{"sseconn/amqp", "amqp"},
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) []*ast.File {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(filepath.FromSlash(dir), "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatalf("no Go files in %s", dir)
	}
	return files
}

// section returns the text of README's "### title" section.
func section(t *testing.T, text, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(text, "\n### "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", "### "+title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.Index(rest, "\n### "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestREADMEOptions checks that the configuration reference lists every
// option of every package, in that package's section.
func TestREADMEOptions(t *testing.T) {
	text, _ := readme(t)
	for _, pkg := range documented {
		t.Run(pkg.dir, func(t *testing.T) {
			sec := section(t, text, pkg.section)
			var options []string
			for _, f := range parseDir(t, pkg.dir) {
				for _, d := range f.Decls {
					fn, ok := d.(*ast.FuncDecl)
					if ok && fn.Recv == nil && fn.Name.IsExported() && strings.HasPrefix(fn.Name.Name, "With") {
						options = append(options, fn.Name.Name)
					}
				}
			}
			if len(options) == 0 {
				t.Fatalf("found no options in %s", pkg.dir)
			}
			for _, name := range options {
				if !strings.Contains(sec, "`"+name+"(") {
					t.Errorf("section %q of README.md does not document %s.%s", pkg.section, pkg.dir, name)
				}
			}
		})
	}
}

// TestREADMETelemetry checks that README names every metric and span
// attribute that the packages' code records (the "ssegate.…" literals).
func TestREADMETelemetry(t *testing.T) {
	text, _ := readme(t)
	for _, pkg := range documented {
		t.Run(pkg.dir, func(t *testing.T) {
			for _, f := range parseDir(t, pkg.dir) {
				ast.Inspect(f, func(n ast.Node) bool {
					lit, ok := n.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						return true
					}
					s, err := strconv.Unquote(lit.Value)
					if err == nil && regexp.MustCompile(`^ssegate\.[a-z0-9_.]+$`).MatchString(s) &&
						!strings.Contains(text, "`"+s+"`") {
						t.Errorf("README.md does not name %q, recorded by %s", s, pkg.dir)
					}
					return true
				})
			}
		})
	}
}

// TestREADMELinks checks that README links to the docs of every package of
// the module, and that its relative links lead to files.
func TestREADMELinks(t *testing.T) {
	text, _ := readme(t)
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "internal" || name == "testdata" || name == "examples" || name == "scripts") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		importPath := "github.com/ssegate/ssegate"
		if dir := filepath.ToSlash(filepath.Dir(path)); dir != "." {
			importPath += "/" + dir
		}
		if !strings.Contains(text, "(https://pkg.go.dev/"+importPath+")") {
			t.Errorf("README.md does not link to https://pkg.go.dev/%s", importPath)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, m := range regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`).FindAllStringSubmatch(text, -1) {
		target := m[1]
		if target == "BENCHMARKS.md" {
			continue // written separately; linked, never quoted
		}
		if _, err := os.Stat(filepath.FromSlash(target)); err != nil {
			t.Errorf("README.md links to %s: %v", target, err)
		}
	}
	if !strings.Contains(text, "(BENCHMARKS.md)") {
		t.Error("README.md does not point to BENCHMARKS.md")
	}

	// Anchors of in-page links exist as headings.
	var anchors []string
	for line := range strings.SplitSeq(text, "\n") {
		if title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			a := strings.ToLower(strings.ReplaceAll(title, " ", "-"))
			anchors = append(anchors, regexp.MustCompile(`[^a-z0-9_-]`).ReplaceAllString(a, ""))
		}
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(text, -1) {
		if !slices.Contains(anchors, m[1]) {
			t.Errorf("README.md links to #%s, which is no heading", m[1])
		}
	}
}

// TestREADMEInstall checks that README tells how to get each module a user
// imports, and points to the protocol description.
func TestREADMEInstall(t *testing.T) {
	text, blocks := readme(t)
	var commands []string
	for _, b := range blocks {
		for line := range strings.SplitSeq(b.code, "\n") {
			cmd, _, _ := strings.Cut(line, "#")
			if cmd = strings.TrimSpace(cmd); strings.HasPrefix(cmd, "go get ") {
				commands = append(commands, cmd)
			}
		}
	}
	want := []string{"go get github.com/ssegate/ssegate", "go get github.com/ssegate/ssegate/sseconn/amqp"}
	if diff := cmp.Diff(want, commands); diff != "" {
		t.Errorf("go get lines of README.md (-want +got):\n%s", diff)
	}
	if !strings.Contains(text, "(docs/protocol.md)") {
		t.Error("README.md does not link to docs/protocol.md")
	}
}

// TestREADMESuites checks that README's test section names every
// integration suite with the variable that enables it.
func TestREADMESuites(t *testing.T) {
	text, _ := readme(t)
	_, sec, ok := strings.Cut(text, "\n## Running the tests\n")
	if !ok {
		t.Fatal(`README.md has no section "## Running the tests"`)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	for _, s := range testenv.All {
		if row := "| `" + s.Name + "` | `" + s.Var + "` |"; !strings.Contains(sec, row) {
			t.Errorf("README's test section lacks the row of suite %s, starting %q", s.Name, row)
		}
	}
	if !strings.Contains(sec, "CI=true") {
		t.Error("README's test section does not say that CI=true fails on a skipped suite")
	}
}

// TestNoCitationOfUnshippedFiles checks that no text file of the repository
// (hidden folders aside, .ci included) cites the design and protocol notes
// that the repository does not ship; docs/protocol.md is its own description
// of the protocol. .ci/run alone may name the shared folder that CI lays
// beside the checkout: it builds the reference gateway from there, and
// nothing a user runs depends on it.
func TestNoCitationOfUnshippedFiles(t *testing.T) {
	banned := []string{"PROTOCOL" + ".md", "DESIGN" + ".md", "shared" + "/", "audit" + ".md"}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && strings.HasPrefix(d.Name(), ".") && d.Name() != ".ci" {
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return nil // binary
		}
		for _, s := range banned {
			if path == filepath.Join(".ci", "run") && s == "shared"+"/" {
				continue
			}
			if i := strings.Index(string(b), s); i >= 0 {
				line := 1 + strings.Count(string(b[:i]), "\n")
				t.Errorf("%s:%d cites %q, which users do not have; cite docs/protocol.md or say it in place", path, line, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
