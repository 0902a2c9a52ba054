// Package testwait is the one condition-polling helper of Samsa's tests: they wait for state
// that only shows through the broker (offsets, group membership, compaction) by polling it
// with a deadline, never by sleeping a fixed time.
package testwait

import (
	"testing"
	"time"
)

// Interval is how often Until polls.
const Interval = 10 * time.Millisecond

// Until polls cond every Interval until it reports true, and fails the test once timeout has
// passed, with what and the last description cond returned.
func Until(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if desc != "" {
				t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, desc)
			}
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// True adapts a plain condition for Until.
func True(cond func() bool) func() (bool, string) {
	return func() (bool, string) { return cond(), "" }
}
