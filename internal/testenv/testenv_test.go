package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRequire(t *testing.T) {
	log := filepath.Join(t.TempDir(), "suites")
	t.Setenv("SSEGATE_SUITE_LOG", log)
	t.Setenv("CI", "")
	s := Suite{Name: "demo", Var: "SSEGATE_TESTENV_DEMO", RequireVar: "SSEGATE_TESTENV_REQUIRE", How: "set it"}

	t.Setenv(s.Var, "value")
	if got := Require(t, s); got != "value" {
		t.Fatalf("Require = %q, want %q", got, "value")
	}

	t.Setenv(s.Var, "")
	skipped := t.Run("skips", func(t *testing.T) { Require(t, s) })
	if !skipped {
		t.Fatal("a skipped subtest reported failure")
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "demo ran SSEGATE_TESTENV_DEMO\ndemo skipped SSEGATE_TESTENV_DEMO\n"
	if string(data) != want {
		t.Fatalf("log = %q, want %q", data, want)
	}
}

func TestRequired(t *testing.T) {
	s := Suite{Name: "demo", Var: "X", RequireVar: "SSEGATE_TESTENV_REQUIRE"}
	for _, tc := range []struct {
		ci, req string
		want    bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"false", "0", false},
	} {
		t.Setenv("CI", tc.ci)
		t.Setenv("SSEGATE_TESTENV_REQUIRE", tc.req)
		if got := s.Required(); got != tc.want {
			t.Errorf("CI=%q require=%q: Required = %v, want %v", tc.ci, tc.req, got, tc.want)
		}
	}
	if !strings.Contains(RabbitMQ.How, "start-rabbitmq.sh") {
		t.Errorf("RabbitMQ.How does not say how to start a broker: %q", RabbitMQ.How)
	}
}

// TestRequireFallback checks that Var wins over Fallback, that a Fallback
// answer enables the suite, and that an empty one skips it.
func TestRequireFallback(t *testing.T) {
	t.Setenv("CI", "")
	for _, tc := range []struct {
		name, env, fallback string
		want                string // "" for skipped
		wantLog             string
	}{
		{"variable wins", "/from/env", "/from/path", "/from/env", "demo ran SSEGATE_TESTENV_DEMO\n"},
		{"fallback", "", "/from/path", "/from/path", "demo ran SSEGATE_TESTENV_DEMO\n"},
		{"neither", "", "", "", "demo skipped SSEGATE_TESTENV_DEMO\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "suites")
			t.Setenv("SSEGATE_SUITE_LOG", log)
			t.Setenv("SSEGATE_TESTENV_DEMO", tc.env)
			s := Suite{Name: "demo", Var: "SSEGATE_TESTENV_DEMO", Fallback: func() string { return tc.fallback }}
			var got string
			ran := false
			t.Run("require", func(t *testing.T) {
				got = Require(t, s)
				ran = true
			})
			if tc.want == "" && ran {
				t.Errorf("Require returned %q, want the test skipped", got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("Require = %q, want %q", got, tc.want)
			}
			data, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantLog, string(data)); diff != "" {
				t.Errorf("suite log (-want +got):\n%s", diff)
			}
		})
	}
}
