package testenv

import (
	"testing"
	"time"
)

// pollInterval is how often Eventually checks its condition: short next to
// the millisecond-scale events tests wait for, long enough not to spin.
const pollInterval = 5 * time.Millisecond

// Eventually waits until cond holds, checking it every few milliseconds, and
// fails tb if it still does not after timeout. The failure names what was
// waited for and how long, followed by the text of each detail func (for
// the last state seen). Tests wait on conditions with it instead of
// sleeping: a deadline is a bound for a broken run, not a schedule, so make
// it generous (a loaded CI machine is many times slower than a laptop).
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool, detail ...func() string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := "timed out after " + timeout.String() + " waiting for " + what
			for _, d := range detail {
				msg += "; " + d()
			}
			tb.Fatal(msg)
		}
		time.Sleep(pollInterval)
	}
}

// EventuallySays is Eventually for a condition that also says what it saw:
// a failure reports the last thing it said.
func EventuallySays(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	var last string
	Eventually(tb, timeout, what, func() bool {
		ok, msg := cond()
		last = msg
		return ok
	}, func() string { return "last seen: " + last })
}
