//go:build race

package testenv

// RaceEnabled reports whether the race detector is on: it limits a process
// to 8128 live goroutines.
const RaceEnabled = true
