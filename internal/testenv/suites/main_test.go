package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		log      string
		required bool
		wantOK   bool
		wantFail string // a line the output must hold, "" for none
	}{
		{"all ran", "rabbitmq ran SSEGATE_AMQP_URL\nbrowser ran SSEGATE_CHROMIUM\n", true, true, ""},
		{"skipped locally", "rabbitmq skipped SSEGATE_AMQP_URL\n", false, true, ""},
		{"skipped in CI", "rabbitmq skipped SSEGATE_AMQP_URL\n", true, false, "FAIL: suite rabbitmq skipped"},
		{"missing in CI", "browser missing SSEGATE_CHROMIUM\n", true, false, "FAIL: suite browser missing"},
		{"no tests in CI", "", true, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(path, []byte(tc.log), 0o644); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			ok, err := run(&out, path, tc.required)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK {
				t.Errorf("run = %v, want %v; output:\n%s", ok, tc.wantOK, out.String())
			}
			if tc.wantFail != "" && !strings.Contains(out.String(), tc.wantFail) {
				t.Errorf("output lacks %q:\n%s", tc.wantFail, out.String())
			}
			if tc.wantFail == "" && strings.Contains(out.String(), "FAIL") {
				t.Errorf("output reports a failure:\n%s", out.String())
			}
		})
	}
}
