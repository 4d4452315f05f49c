package fakeclock

import (
	"sync"
	"time"

	"github.com/reconciled/reconciled/internal/clock"
)

var _ clock.Clock = (*Clock)(nil)

// Clock is stepped by hand. Its methods are safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*Timer
	armed  int // AfterFunc calls so far
}

// Timer is a pending AfterFunc call of a Clock.
type Timer struct {
	c       *Clock
	at      time.Time
	f       func()
	stopped bool
}

// New returns a Clock at 2026-11-22 10:00 UTC.
func New() *Clock { return &Clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc arms a timer that calls f inside the Step that reaches d from now.
// The Timer it returns is a *Timer.
func (c *Clock) AfterFunc(d time.Duration, f func()) clock.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &Timer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	c.armed++
	return t
}

// Stop prevents the call if it has not been made; it reports whether it did.
func (t *Timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Step moves time forward by d and calls the functions of the timers that
// became due, in the order they were armed, after letting go of the clock
// (so that they may arm new timers).
func (c *Clock) Step(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*Timer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// Pending returns the number of timers that are waiting: neither fired nor
// stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

// Armed returns the number of AfterFunc calls so far, whatever became of
// their timers.
func (c *Clock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

// Next returns how long from now the earliest waiting timer is due, and
// false when none is waiting.
func (c *Clock) Next() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Duration
	found := false
	for _, t := range c.timers {
		if d := t.at.Sub(c.now); !t.stopped && (!found || d < next) {
			next, found = d, true
		}
	}
	return next, found
}
