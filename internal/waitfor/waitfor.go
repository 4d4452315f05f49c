package waitfor

import (
	"fmt"
	"time"
)

// MaxPoll is the longest pause between two checks of a condition.
const MaxPoll = 10 * time.Millisecond

// T is the part of testing.TB that Condition needs.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Condition polls cond until it returns true, and fails the test with
// "timed out after TIMEOUT waiting for " and the formatted description if
// it does not within timeout.
func Condition(t T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	if !Until(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, fmt.Sprintf(format, args...))
	}
}

// Until polls cond until it returns true or timeout passes, and reports
// whether it held. Use it where the caller reports the failure itself, with
// what it last saw.
func Until(timeout time.Duration, cond func() bool) bool {
	return UntilEvery(timeout, MaxPoll, cond)
}

// UntilEvery is Until with the pause between checks capped at maxPoll
// rather than MaxPoll: for a condition that is costly to check (a large
// file to read and parse), a longer pause.
func UntilEvery(timeout, maxPoll time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := min(time.Millisecond, maxPoll)
	for {
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return cond()
		}
		timer := time.NewTimer(min(pause, max(time.Until(deadline), 0)))
		<-timer.C
		pause = min(2*pause, maxPoll)
	}
}

// Never checks cond throughout window and reports whether it stayed false:
// the negative half of a test ("nothing happens within window"). It makes
// time pass on purpose; the window is as long as the thing that must not
// happen would take to show.
func Never(window time.Duration, cond func() bool) bool {
	return !UntilEvery(window, MaxPoll, cond)
}
