package watch

import "time"

// burst is the debounce state: the trailing edge of a run of triggers, capped
// so that a storm that never goes quiet still produces a rescan every maxDelay.
//
// It is pure (times come in as arguments) so that the rule can be tested as a
// table; the loop owns the single timer that acts on due.
//
//	event   event  event            event event event event ...   (storm)
//	  |-------|------|--debounce--> fire
//	                                  |-----|-----|-----|-- maxDelay --> fire
type burst struct {
	debounce time.Duration
	maxDelay time.Duration

	open   bool      // a trigger is waiting to be delivered
	first  time.Time // when the open burst began
	last   time.Time // the newest trigger of the open burst
	events int       // triggers coalesced into the open burst, for logs
}

// add records a trigger at now and returns how long to wait before
// delivering the burst.
func (b *burst) add(now time.Time) time.Duration {
	if !b.open {
		b.open, b.first = true, now
	}
	b.last = now
	b.events++
	return b.due().Sub(now)
}

// due is when the open burst must be delivered: debounce after its newest
// trigger, but never later than maxDelay after its first. Consecutive
// deliveries are therefore at least debounce apart and a trigger waits at
// most maxDelay.
func (b *burst) due() time.Time {
	quiet := b.last.Add(b.debounce)
	if limit := b.first.Add(b.maxDelay); limit.Before(quiet) {
		return limit
	}
	return quiet
}

// take closes the open burst and reports how many triggers it held.
func (b *burst) take() int {
	n := b.events
	b.open, b.events = false, 0
	return n
}
