package optcheck

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var errSentinel = errors.New("pkg: invalid configuration")

func TestSet(t *testing.T) {
	tests := []struct {
		name     string
		v        time.Duration
		want     time.Duration
		problems []string
	}{
		{"positive", time.Second, time.Second, nil},
		{"zero keeps the default", 0, time.Minute, nil},
		{"negative is a problem", -time.Second, time.Minute, []string{"WithX: negative value -1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Problems
			got := time.Minute
			Set(&p, "WithX", &got, tt.v)
			if got != tt.want {
				t.Errorf("value = %v, want %v", got, tt.want)
			}
			var msgs []string
			for _, e := range p {
				msgs = append(msgs, e.Error())
			}
			if diff := cmp.Diff(tt.problems, msgs); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErr(t *testing.T) {
	var p Problems
	if err := p.Err(errSentinel); err != nil {
		t.Fatalf("Err of no problems = %v", err)
	}
	cause := errors.New("cause")
	p.Addf("WithA", "bad %d", 1)
	p.Add(cause)
	err := p.Err(errSentinel)
	if !errors.Is(err, errSentinel) || !errors.Is(err, cause) {
		t.Errorf("Err = %v, want it to wrap the sentinel and the cause", err)
	}
	want := []string{"pkg: invalid configuration: WithA: bad 1", "pkg: invalid configuration: cause"}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("Err lines (-want +got):\n%s", diff)
	}
}
