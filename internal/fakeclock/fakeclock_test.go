package fakeclock

import (
	"slices"
	"testing"
	"time"
)

// TestStep checks that a step fires exactly the timers that became due, in
// the order they were armed, never a stopped one, and each only once; and
// that a timer armed from a firing one waits for a later step.
func TestStep(t *testing.T) {
	c := New()
	start := c.Now()
	var fired []string
	c.AfterFunc(2*time.Second, func() { fired = append(fired, "b") })
	c.AfterFunc(time.Second, func() {
		fired = append(fired, "a")
		c.AfterFunc(0, func() { fired = append(fired, "armed by a") })
	})
	stopped := c.AfterFunc(time.Second, func() { fired = append(fired, "stopped") })
	late := c.AfterFunc(time.Hour, func() { fired = append(fired, "late") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop: want true, then false")
	}
	if n := c.Pending(); n != 3 {
		t.Fatalf("Pending = %d, want 3", n)
	}
	if d, ok := c.Next(); !ok || d != time.Second {
		t.Fatalf("Next = %v, %v; want 1s, true", d, ok)
	}
	c.Step(2 * time.Second)
	if want := []string{"b", "a"}; !slices.Equal(fired, want) {
		t.Fatalf("after 2s fired %q, want %q", fired, want)
	}
	c.Step(0)
	if want := []string{"b", "a", "armed by a"}; !slices.Equal(fired, want) {
		t.Fatalf("after another step fired %q, want %q", fired, want)
	}
	if got := c.Now().Sub(start); got != 2*time.Second {
		t.Errorf("Now moved %v, want 2s", got)
	}
	if n := c.Pending(); n != 1 {
		t.Errorf("Pending = %d, want 1 (the late one)", n)
	}
	if d, ok := c.Next(); !ok || d != time.Hour-2*time.Second {
		t.Errorf("Next = %v, %v; want the late one's 59m58s", d, ok)
	}
	if n := c.Armed(); n != 5 {
		t.Errorf("Armed = %d, want 5", n)
	}
	if late.Stop() != true {
		t.Error("the late timer should still have been pending")
	}
	if _, ok := c.Next(); ok {
		t.Error("Next found a timer after the last one was stopped")
	}
}
