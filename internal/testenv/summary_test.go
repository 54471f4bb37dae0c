package testenv

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestSummarize(t *testing.T) {
	a := Suite{Name: "a", Var: "A", How: "set A"}
	b := Suite{Name: "b", Var: "B"}
	for _, tc := range []struct {
		name    string
		log     string
		want    []Outcome
		wantErr string
	}{
		{"empty", "", []Outcome{{Suite: a}, {Suite: b}}, ""},
		{"counts", "a ran A\na ran A\nb skipped B\na skipped A\n",
			[]Outcome{{Suite: a, Ran: 2, Skipped: 1}, {Suite: b, Skipped: 1}}, ""},
		{"missing", "b missing B\n", []Outcome{{Suite: a}, {Suite: b, Missing: 1}}, ""},
		{"unknown suite listed last", "c ran C\n",
			[]Outcome{{Suite: a}, {Suite: b}, {Suite: Suite{Name: "c", Var: "C"}, Ran: 1}}, ""},
		{"bad line", "a ran\n", nil, `line 1: want "<suite> <status> <variable>"`},
		{"bad status", "a ran A\na maybe A\n", nil, `line 2: unknown status "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Summarize(strings.NewReader(tc.log), []Suite{a, b})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Summarize error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Suite{}, "Fallback")); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOutcomeStatus(t *testing.T) {
	for _, tc := range []struct {
		o    Outcome
		want string
	}{
		{Outcome{}, "no tests"},
		{Outcome{Ran: 3}, "ran"},
		{Outcome{Ran: 3, Skipped: 1}, "skipped"},
		{Outcome{Ran: 3, Skipped: 1, Missing: 1}, "missing"},
	} {
		if got := tc.o.Status(); got != tc.want {
			t.Errorf("%+v.Status() = %q, want %q", tc.o, got, tc.want)
		}
	}
}

func TestWriteSummary(t *testing.T) {
	var b strings.Builder
	err := WriteSummary(&b, []Outcome{
		{Suite: Suite{Name: "rabbitmq", Var: "SSEGATE_AMQP_URL", How: "start one"}, Skipped: 2},
		{Suite: Suite{Name: "browser", Var: "SSEGATE_CHROMIUM", How: "install it"}, Ran: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "suite     result   tests  enabled by\n" +
		"rabbitmq  skipped  2      SSEGATE_AMQP_URL (start one)\n" +
		"browser   ran      1      SSEGATE_CHROMIUM\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("WriteSummary (-want +got):\n%s", diff)
	}
}
