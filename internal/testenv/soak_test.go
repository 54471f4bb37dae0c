package testenv

import (
	"testing"
	"time"
)

func TestSoakSettings(t *testing.T) {
	def := SoakDefaults{MinDuration: 5 * time.Second, Streams: 2000, RaceStreams: 500, RateVar: "SSEGATE_TEST_RATE", Rate: 400}
	t.Setenv("SSEGATE_SOAK", "30s")
	t.Setenv("SSEGATE_SOAK_STREAMS", "")
	t.Setenv("SSEGATE_TEST_RATE", "")
	d, streams, rate := Soak(t, def)
	wantStreams := 2000
	if RaceEnabled {
		wantStreams = 500
	}
	if d != 30*time.Second || streams != wantStreams || rate != 400 {
		t.Errorf("defaults: %v, %d streams, rate %d; want 30s, %d, 400", d, streams, rate, wantStreams)
	}
	t.Setenv("SSEGATE_SOAK_STREAMS", "7")
	t.Setenv("SSEGATE_TEST_RATE", "9")
	if _, streams, rate := Soak(t, def); streams != 7 || rate != 9 {
		t.Errorf("from the environment: %d streams, rate %d; want 7, 9", streams, rate)
	}
}
