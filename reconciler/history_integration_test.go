package reconciler

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// Every exit goes into recentExits, newest first, five kept.
func TestITRecentExits(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("history")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exit 3"]`, "restartDelay: 0s", "startSeconds: 0s"))
	st := itWaitStatus(t, d.dir, name, "five exits", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return ok && in.Restarts >= 6 && len(in.RecentExits) == 5
	})
	in, _ := itInstance(st, 0)
	for i, x := range in.RecentExits {
		if x.Code != 3 {
			t.Errorf("recentExits[%d] = %+v, want code 3", i, x)
		}
		if i > 0 && x.At.After(in.RecentExits[i-1].At) {
			t.Errorf("recentExits not newest first: %+v", in.RecentExits)
		}
	}
}

// A RUNNING instance whose readiness probe fails has health Unhealthy, and
// Healthy once it passes.
func TestITHealth(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("health")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "startSeconds: 0s",
		`readinessProbe: {exec: {command: ["test", "-f", "ready"]}, period: 100ms, failureThreshold: 1}`))
	health := func(want string) func(status.ProgramStatus) bool {
		return func(st status.ProgramStatus) bool {
			in, ok := itInstance(st, 0)
			return ok && in.State == "RUNNING" && in.Health == want
		}
	}
	itWaitStatus(t, d.dir, name, "unhealthy", health("Unhealthy"))
	if err := os.WriteFile(filepath.Join(d.dir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, d.dir, name, "healthy", health("Healthy"))
}

// A manifest's warnings (a shell operator without a shell) become one
// SpecWarning event per accepted version (here sh gets ">" as its $0 and
// runs all the same).
func TestITSpecWarning(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("warned")
	itWrite(t, d.dir, name, itSpec(`"sh -c 'sleep 1000' > /dev/null"`))
	itWaitEvents(t, d.dir, name, "SpecWarning", itHasReason("SpecWarning", ""))
	itWaitStatus(t, d.dir, name, "running", itReady(1))
	if n := itCount(itEvents(t, d.dir, name), "SpecWarning", "*"); n != 1 {
		t.Errorf("%d SpecWarning events, want 1", n)
	}
}

// A manifest deleted while no daemon ran: the next daemon removes its
// status file, with a Deleted event (found by the soak).
func TestITDeletedWhileDown(t *testing.T) {
	dir := t.TempDir()
	name := "gone-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { itKillPrograms(name) })
	itWrite(t, dir, name, itSpec(`["sleep", "1000"]`))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), itDaemonDirEnv+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	itWaitStatus(t, dir, name, "running", itReady(1))
	_ = cmd.Process.Signal(syscall.SIGTERM) // a clean stop: the status stays
	_ = cmd.Wait()
	itRemove(t, dir, name)
	d := itStart(t, itOpts{dir: dir})
	d.track(name)
	if !waitfor.Until(waitTimeout, func() bool {
		_, err := os.Stat(filepath.Join(dir, name+".status.yaml"))
		return os.IsNotExist(err)
	}) {
		t.Fatalf("the status file of a program deleted while no daemon ran is still there")
	}
	itWaitEvents(t, dir, name, "Deleted", itHasReason("Deleted", ""))
}
