package status

import (
	"sync"
	"time"
)

// fakeClock is a Clock whose time moves only when a test steps it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	created int
}

type fakeTimer struct {
	clock   *fakeClock
	c       chan time.Time
	at      time.Time
	pending bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, c: make(chan time.Time, 1), at: c.now.Add(d), pending: true}
	c.timers = append(c.timers, t)
	c.created++
	return t
}

// Step moves time forward by d and fires the timers that are due.
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	live := c.timers[:0]
	for _, t := range c.timers {
		if t.pending && !t.at.After(c.now) {
			t.pending = false
			t.c <- c.now
		}
		if t.pending {
			live = append(live, t)
		}
	}
	c.timers = live
}

// waiting returns how many timers are pending, and how many were ever made.
func (c *fakeClock) waiting() (pending, created int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers), c.created
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.pending
	t.pending = false
	return was
}

// pendingIn returns how long from now the earliest pending timer fires.
func (c *fakeClock) pendingIn() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var in time.Duration = -1
	for _, t := range c.timers {
		if d := t.at.Sub(c.now); t.pending && (in < 0 || d < in) {
			in = d
		}
	}
	return in
}
