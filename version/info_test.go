package version_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ssegate/ssegate/version"
)

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    version.Info
		wantErr bool
	}{
		{"version only", `{"version":"1.2.3"}`, version.Info{Version: "1.2.3"}, false},
		{"with changelog", `{"version":"2.0","changelog":"New editor"}`, version.Info{Version: "2.0", Changelog: "New editor"}, false},
		{"unknown fields ignored", `{"build":42,"version":"1","nested":{"a":[1,null]},"changelog":"c"}`, version.Info{Version: "1", Changelog: "c"}, false},
		{"null changelog", `{"version":"1","changelog":null}`, version.Info{Version: "1"}, false},
		{"surrounding whitespace", " \n{\"version\":\"1\"}\n", version.Info{Version: "1"}, false},
		{"escapes", `{"version":"1\u00e9\n"}`, version.Info{Version: "1é\n"}, false},
		{"empty object", `{}`, version.Info{}, true},
		{"null version", `{"version":null}`, version.Info{}, true},
		{"empty version", `{"version":""}`, version.Info{}, true},
		{"numeric version", `{"version":1.2}`, version.Info{}, true},
		{"numeric changelog", `{"version":"1","changelog":7}`, version.Info{}, true},
		{"array", `[{"version":"1"}]`, version.Info{}, true},
		{"string", `"1.2.3"`, version.Info{}, true},
		{"null", `null`, version.Info{}, true},
		{"empty", ``, version.Info{}, true},
		{"trailing data", `{"version":"1"} {}`, version.Info{}, true},
		{"truncated", `{"version":"1"`, version.Info{}, true},
		{"html", `<html>502 Bad Gateway</html>`, version.Info{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := version.ParseInfo([]byte(tt.in))
			if tt.wantErr {
				if !errors.Is(err, version.ErrInvalidInfo) {
					t.Fatalf("ParseInfo(%q) error = %v, want ErrInvalidInfo", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseInfo(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseInfo(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestInfoJSON(t *testing.T) {
	tests := []struct {
		info version.Info
		want string
	}{
		{version.Info{Version: "1.2.3"}, `{"version":"1.2.3"}`},
		{version.Info{Version: "2", Changelog: "x"}, `{"version":"2","changelog":"x"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.info)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, string(b)); diff != "" {
			t.Errorf("Marshal(%+v) (-want +got):\n%s", tt.info, diff)
		}
	}
}

func FuzzParseInfo(f *testing.F) {
	for _, s := range []string{
		`{"version":"1.2.3"}`,
		`{"version":"2.0","changelog":"New editor"}`,
		`{"version":"1","extra":{"a":[1,2,{"b":null}]}}`,
		`{"version":null}`,
		`{"VERSION":"1"}`,
		`{"version":"\ud800"}`,
		`{"version":"1","version":"2"}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		info, err := version.ParseInfo(in)
		if err != nil {
			if !errors.Is(err, version.ErrInvalidInfo) {
				t.Fatalf("ParseInfo(%q) error %v does not wrap ErrInvalidInfo", in, err)
			}
			if info != (version.Info{}) {
				t.Fatalf("ParseInfo(%q) = %+v with an error", in, info)
			}
			return
		}
		if info.Version == "" {
			t.Fatalf("ParseInfo(%q) accepted an empty version", in)
		}
		// What it accepts survives a round trip through its own encoding.
		b, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		again, err := version.ParseInfo(b)
		if err != nil {
			t.Fatalf("ParseInfo(Marshal(%+v)): %v", info, err)
		}
		if diff := cmp.Diff(info, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
