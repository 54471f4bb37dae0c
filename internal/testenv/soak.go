package testenv

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// SoakDefaults are a soak test's settings when the environment does not
// set them.
type SoakDefaults struct {
	MinDuration time.Duration // shortest SSEGATE_SOAK accepted
	Streams     int           // SSEGATE_SOAK_STREAMS
	RaceStreams int           // streams under the race detector, which limits a process to 8128 goroutines
	RateVar     string        // the variable that sets the rate, such as SSEGATE_SOAK_RATE
	Rate        int           // events per second in all
}

// Soak returns the settings of a soak test: its duration from SSEGATE_SOAK
// (it skips the test when that is not set), the number of streams and the
// rate. A malformed value fails the test.
func Soak(t testing.TB, def SoakDefaults) (d time.Duration, streams, rate int) {
	t.Helper()
	v := os.Getenv("SSEGATE_SOAK")
	if v == "" {
		t.Skip("soak test: set SSEGATE_SOAK=30s (or 10m) to run it")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < def.MinDuration {
		t.Fatalf("SSEGATE_SOAK=%q: want a duration of at least %v", v, def.MinDuration)
	}
	streams, rate = def.Streams, def.Rate
	if RaceEnabled {
		streams = min(streams, def.RaceStreams)
	}
	for name, p := range map[string]*int{"SSEGATE_SOAK_STREAMS": &streams, def.RateVar: &rate} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive number", name, v)
			}
			*p = n
		}
	}
	return d, streams, rate
}
