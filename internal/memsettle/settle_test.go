package memsettle

import (
	"runtime"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/fakeclock"
)

// TestSettlerWaitsForQuiet: work keeps the settle away; it runs once the
// work stops, once, and not again while nothing happens.
func TestSettlerWaitsForQuiet(t *testing.T) {
	clk := fakeclock.New()
	runs := 0
	trims := 0
	s := New(50*time.Millisecond, clk, func() bool { trims++; return trims == 1 })
	var trimmed []bool
	s.settle = func(t bool) bool { runs++; trimmed = append(trimmed, t); return true }
	for range 10 {
		s.Touch()
		clk.Step(40 * time.Millisecond)
	}
	if runs != 0 {
		t.Fatalf("settled %d times while work came every 40ms", runs)
	}
	if n := clk.Armed(); n > 10 {
		t.Errorf("%d timers armed for 10 touches", n)
	}
	clk.Step(10 * time.Millisecond)
	if runs != 1 {
		t.Fatalf("settled %d times 50ms after the last work, want 1", runs)
	}
	clk.Step(time.Hour)
	if runs != 1 || clk.Pending() != 0 {
		t.Fatalf("settled %d times (want 1) with %d timers pending after an hour of nothing", runs, clk.Pending())
	}
	s.Touch()
	clk.Step(50 * time.Millisecond)
	if runs != 2 {
		t.Fatalf("no settle after the next work: %d", runs)
	}
	s.Touch()
	s.Stop()
	clk.Step(time.Hour)
	s.Touch()
	clk.Step(time.Hour)
	if runs != 2 {
		t.Errorf("settled after Stop: %d", runs)
	}
	// Each settle trims first and is told whether that let anything go.
	if trims != 2 || len(trimmed) != 2 || !trimmed[0] || trimmed[1] {
		t.Errorf("%d trims, settles told %v; want 2 and [true false]", trims, trimmed)
	}
}

// TestSettleReturnsGarbage: after a burst leaves garbage behind, Settle
// collects it and gives it back; right after, nothing is worth another.
func TestSettleReturnsGarbage(t *testing.T) {
	s := New(0, nil)
	s.Settle(false) // whatever the test binary did before
	keep := make([][]byte, 0, 64)
	for range 64 {
		keep = append(keep, make([]byte, 256<<10)) // 16 MiB, then garbage
	}
	runtime.KeepAlive(keep)
	keep = nil
	if !s.Settle(false) {
		t.Fatal("Settle did not collect 16 MiB of garbage")
	}
	// Collected (not live) and returned: what stays free in the heap is at
	// most the runtime's slack (it keeps a megabyte or two at times, which
	// FreeOSMemory does not give back either), not the 16 MiB.
	if m := read(); m.live >= 8<<20 || m.free >= 4<<20 {
		t.Errorf("16 MiB of garbage not given back: live %d, free %d bytes", m.live, m.free)
	}
	if s.Settle(false) {
		t.Error("a second Settle collected again with nothing to give back")
	}
	if !s.Settle(true) {
		t.Error("a Settle after a trim let go of something did not collect")
	}
}

func TestWorth(t *testing.T) {
	for _, tc := range []struct {
		m     heapMetrics
		since uint64
		slack uint64
		want  bool
	}{
		{heapMetrics{free: 0, live: 4 << 20}, 0, 0, false},
		{heapMetrics{free: 512 << 10, live: 4 << 20}, 256 << 10, 0, false}, // under 1 MiB
		{heapMetrics{free: 2 << 20, live: 4 << 20}, 0, 0, true},
		{heapMetrics{free: 1 << 20, live: 40 << 20}, 1 << 20, 0, false}, // under a quarter of live
		{heapMetrics{free: 0, live: 40 << 20}, 12 << 20, 0, true},
		{heapMetrics{free: 2 << 20, live: 4 << 20}, 0, 2 << 20, false},        // all of it the runtime's slack
		{heapMetrics{free: 3 << 20, live: 4 << 20}, 256 << 10, 1 << 20, true}, // 2.25 MiB above it
		{heapMetrics{free: 1 << 20, live: 4 << 20}, 2 << 20, 2 << 20, true},   // slack above what is free now
	} {
		if got := worth(tc.m, tc.since, tc.slack); got != tc.want {
			t.Errorf("worth(%+v, %d, slack %d) = %v, want %v", tc.m, tc.since, tc.slack, got, tc.want)
		}
	}
}
