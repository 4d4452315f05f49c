package benchkit

import (
	"testing"
	"time"
)

func TestStealTicks(t *testing.T) {
	stat := []byte("cpu  10 0 20 300 4 0 5 77 0 0\ncpu0 5 0 10 150 2 0 2 40 0 0\nintr 1 2\n")
	if got := stealTicks(stat); got != 77 {
		t.Errorf("steal of the cpu line = %d, want 77 (not cpu0's 40)", got)
	}
	if got := stealTicks([]byte("cpu  1 2 3\n")); got != 0 {
		t.Errorf("a cpu line without steal: %d, want 0", got)
	}
}

// TestReadHostGrows reads this machine twice: nothing the host took can
// shrink, and the difference is what Since says.
func TestReadHostGrows(t *testing.T) {
	r0 := ReadHost()
	r1 := ReadHost()
	d := r1.Since(r0)
	if d.Steal < 0 || d.Damon < 0 {
		t.Fatalf("host time went back: %+v -> %+v", r0, r1)
	}
	if d.Total() != d.Steal+d.Damon || r1.Steal-r0.Steal != d.Steal {
		t.Errorf("Since/Total: %+v from %+v and %+v", d, r0, r1)
	}
	if x := (HostReading{Steal: 3 * time.Millisecond, Damon: 2 * time.Millisecond}).Since(HostReading{Steal: time.Millisecond}); x != (HostReading{Steal: 2 * time.Millisecond, Damon: 2 * time.Millisecond}) {
		t.Errorf("Since = %+v", x)
	}
}
