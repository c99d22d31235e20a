package testutil

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually asks again.
const pollInterval = 10 * time.Millisecond

// Eventually calls cond, on the calling goroutine, every few milliseconds
// until it holds, and returns how long that took (for the log). If within
// passes first it fails the test, naming what it waited for. within only
// guards against a test that would never end; it is not a bound under
// test, so make it generous. Eventually cannot stop a call of cond that
// hangs: give what cond does its own timeout.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not so within %v", what, within)
		case <-tick.C:
		}
	}
	return time.Since(start)
}
