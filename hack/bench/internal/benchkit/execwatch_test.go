package benchkit

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestExecWatch sees a child's exec, with its parent and argv, at a time
// between the fork and our return from Wait.
func TestExecWatch(t *testing.T) {
	o := NewObserver()
	if err := o.WatchExecs(); err != nil {
		t.Skipf("no process events here (needs root and CONFIG_PROC_EVENTS): %v", err)
	}
	defer o.exec.Close()
	o.exec.Drain()
	t0 := Monotonic()
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d, err := o.waitExec(os.Getpid(), Cmdline("sleep", "0.2"), t0, 5*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || d > Monotonic()-t0 {
		t.Errorf("exec at %v after t0, want within (0, %v]", d, Monotonic()-t0)
	}
}
