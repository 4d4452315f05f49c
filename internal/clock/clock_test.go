package clock

import (
	"testing"
	"time"
)

// TestRealAfterFunc checks that the real clock's timer fires, and that a
// stopped one reports that it was pending.
func TestRealAfterFunc(t *testing.T) {
	var c Clock = Real{}
	fired := make(chan struct{})
	c.AfterFunc(0, func() { close(fired) })
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("AfterFunc(0) did not fire")
	}
	if !c.AfterFunc(time.Hour, func() {}).Stop() {
		t.Error("Stop of a pending timer = false, want true")
	}
	if now := c.Now(); now.IsZero() {
		t.Error("Now is the zero time")
	}
}
