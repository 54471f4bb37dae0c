//go:build !unix

package sseconn_test

import "time"

// processCPU reports false: the process's CPU time is not read on this
// platform, and the benchmarks then report no cpu-ns/op.
func processCPU() (time.Duration, bool) { return 0, false }
