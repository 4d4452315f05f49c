package waitfor

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// fatal records Condition's failure instead of ending the test.
type fatal struct{ msg string }

func (f *fatal) Helper() {}

func (f *fatal) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestUntilHolds(t *testing.T) {
	var calls atomic.Int32
	// True on the third check: Until keeps polling until then.
	if !Until(time.Minute, func() bool { return calls.Add(1) == 3 }) {
		t.Fatal("Until = false for a condition that became true")
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d checks, want 3 (no check after the condition held)", n)
	}
}

func TestUntilTimesOut(t *testing.T) {
	var calls atomic.Int32
	if Until(20*time.Millisecond, func() bool { calls.Add(1); return false }) {
		t.Fatal("Until = true for a condition that never held")
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("%d checks, want at least one before and one after the deadline", n)
	}
}

// The last check comes after the deadline: a condition that became true
// during the last pause counts.
func TestUntilChecksAfterDeadline(t *testing.T) {
	var calls atomic.Int32
	if !Until(0, func() bool { return calls.Add(1) == 2 }) {
		t.Fatal("Until(0) did not check again after the deadline")
	}
}

func TestCondition(t *testing.T) {
	var f fatal
	Condition(&f, time.Minute, func() bool { return true }, "nothing")
	if f.msg != "" {
		t.Errorf("Condition failed for a condition that holds: %s", f.msg)
	}
	Condition(&f, time.Millisecond, func() bool { return false }, "pid %d to exit", 42)
	if want := "timed out after 1ms waiting for pid 42 to exit"; f.msg != want {
		t.Errorf("Condition failed with %q, want %q", f.msg, want)
	}
}

func TestNever(t *testing.T) {
	if !Never(5*time.Millisecond, func() bool { return false }) {
		t.Error("Never = false for a condition that stayed false")
	}
	var calls atomic.Int32
	if Never(time.Minute, func() bool { return calls.Add(1) == 2 }) {
		t.Error("Never = true for a condition that became true")
	}
}
