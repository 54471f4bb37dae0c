//go:build race

package amqp_test

// raceEnabled reports whether the race detector is on: it limits a
// process to 8128 live goroutines.
const raceEnabled = true
