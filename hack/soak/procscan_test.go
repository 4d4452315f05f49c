package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestScanProcs checks that the scan the duplicate and orphan checks rely
// on finds a marked process, tells a leader from an escaped child, and that
// killAll ends both.
func TestScanProcs(t *testing.T) {
	token := fmt.Sprintf("RECONCILED_SOAK_TOKEN=test-%d", os.Getpid())
	start := func(extra ...string) *exec.Cmd {
		cmd := exec.Command("sleep", "1000")
		cmd.Env = append([]string{token, "RECONCILED_PROGRAM=p", "RECONCILED_INSTANCE=3"}, extra...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Skipf("sleep: %v", err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	leader, escaped := start(), start("SOAK_ROLE=escaped")
	got := map[int]proc{}
	for _, p := range scanProcs(token) {
		got[p.pid] = p
	}
	l, e := got[leader.Process.Pid], got[escaped.Process.Pid]
	if !l.leader() || l.program != "p" || l.index != 3 || !stillAlive(l) {
		t.Errorf("leader: got %+v, want a live leader of p-3", l)
	}
	if e.leader() || !e.escaped || e.program != "p" {
		t.Errorf("escaped child: got %+v, want a non-leader of p", e)
	}
	// Killed but not yet reaped, they are zombies, which the scan skips.
	if left := killAll(token, 100, func() { time.Sleep(50 * time.Millisecond) }); left != 0 {
		t.Fatalf("killAll left %d processes", left)
	}
}
