package benchkit

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestStatTicks reads the fields proc(5) numbers 14+15 (utime, stime) and
// 16+17 (cutime, cstime): the latter grow by what a reaped child used, as
// getrusage(RUSAGE_CHILDREN) counts it.
func TestStatTicks(t *testing.T) {
	before, err := ChildCPUTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A child that spins until it has used 30 ms of CPU (3 ticks).
	cmd := exec.Command("sh", "-c", `while :; do set -- $(cat /proc/$$/stat | sed 's/.*) //'); [ $(( ${12} + ${13} )) -ge 3 ] && exit 0; done`)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		t.Fatal(err)
	}
	after, err := ChildCPUTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := (ru.Utime.Nano() + ru.Stime.Nano()) / int64(TickDuration)
	if after < before+3 || after > want+2 || after < want-2 {
		t.Errorf("cutime+cstime %d -> %d ticks; the child used at least 3, RUSAGE_CHILDREN says %d", before, after, want)
	}
	self, err := CPUTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	if mine := (ru.Utime.Nano() + ru.Stime.Nano()) / int64(TickDuration); self > mine+2 || self < mine-2 {
		t.Errorf("utime+stime %d ticks; RUSAGE_SELF says %d", self, mine)
	}
	if _, err := statTicks(os.Getpid(), 60); err == nil || !strings.Contains(err.Error(), "short") {
		t.Errorf("field 60 of a stat line: err = %v, want short stat", err)
	}
}
