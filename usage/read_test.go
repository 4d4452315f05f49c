package usage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/internal/waitfor"
)

// wait bounds every wait for an outcome; a passing test is far quicker.
const wait = 30 * time.Second

// startGroup starts sh -c script with args as the leader of a process
// group of its own, cloned into the cgroup directory fd when fd >= 0; the
// group is killed and the leader reaped at the end of the test.
func startGroup(t *testing.T, fd int, script string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, UseCgroupFD: fd >= 0, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd
}

// readUntil reads the instance with a new Reader (as each command does)
// until cond holds, and returns that sample.
func readUntil(t *testing.T, d cgroup.Dirs, program, instance string, pid int, cond func(Sample) bool) Sample {
	t.Helper()
	var s Sample
	var err error
	if !waitfor.Until(wait, func() bool {
		s, err = NewReader(d).Read(program, instance, pid)
		return err == nil && cond(s)
	}) {
		t.Fatalf("usage of %s: last read %+v, %v", instance, s, err)
	}
	return s
}

// Without cgroups: the process group led by the instance's pid, summed.
// The busy loop is a member, not the leader.
func TestReadProcessGroup(t *testing.T) {
	cmd := startGroup(t, -1, `sh -c 'while :; do :; done' & exec sleep 1000`)
	pid := cmd.Process.Pid
	s := readUntil(t, cgroup.Dirs{}, "busy", "busy-0", pid, func(s Sample) bool { return s.CPUSeconds > 0 })
	if s.Source != SourceProcessGroup || s.MemoryBytes <= 0 {
		t.Errorf("sample = %+v, want the process group's, with memory", s)
	}
	// The same with a cgroup root recorded that has no cgroup for it.
	s = readUntil(t, cgroup.Dirs{V2: t.TempDir()}, "busy", "busy-0", pid, func(s Sample) bool { return s.CPUSeconds > 0 })
	if s.Source != SourceProcessGroup {
		t.Errorf("sample = %+v, want the process group's", s)
	}

	// Not running: no pid, or a group nobody is in.
	r := NewReader(cgroup.Dirs{})
	if _, err := r.Read("busy", "busy-1", 0); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Read without a pid = %v, want ErrNoProcess", err)
	}
	if _, err := r.Read("busy", "busy-1", os.Getpid()); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Read of a pid that leads no group = %v, want ErrNoProcess", err)
	}
}

// With a cgroup: it counts what left the process group (setsid).
func TestReadCgroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	l, err := cgroup.Load()
	if err != nil || l.V2 == nil {
		t.Skipf("no cgroup v2 hierarchy here: %v", err)
	}
	for _, noMem := range []bool{true, false} {
		t.Run(fmt.Sprintf("NoV1MemoryAccounting=%v", noMem), func(t *testing.T) {
			o := cgroup.RootOptions{Hash: fmt.Sprintf("usagetest%d-%v", os.Getpid(), noMem), NoV1MemoryAccounting: noMem}
			root, err := cgroup.OpenRoot(l, o)
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM) {
				t.Skipf("cannot create cgroups here: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				if _, err := root.RemoveLeftovers(ctx); err != nil {
					t.Error(err)
				}
				if err := root.Remove(); err != nil {
					t.Error(err)
				}
			})
			i, err := root.Create("busy", 0, cgroup.Resources{})
			if err != nil {
				t.Fatal(err)
			}
			fd, err := i.OpenFD()
			if err != nil {
				t.Fatal(err)
			}
			// Cloned into the v2 cgroup, the child joins its v1 cgroups
			// before exec, as the daemon's children do. The busy loop
			// leaves the process group.
			script := `for f do echo 0 > "$f" || exit 111; done
				setsid sh -c 'while :; do :; done' & exec sleep 1000`
			cmd := startGroup(t, fd, script, i.Procs()[1:]...)
			unix.Close(fd)
			t.Cleanup(func() {
				if err := i.Kill(); err != nil {
					t.Error(err)
				}
				waitfor.Condition(t, wait, func() bool { p, err := i.Populated(); return err == nil && !p }, "%s empty", i.Dir())
				if err := i.Remove(); err != nil {
					t.Error(err)
				}
			})
			d := root.Dirs()
			s := readUntil(t, d, "busy", "busy-0", cmd.Process.Pid, func(s Sample) bool { return s.CPUSeconds >= 0.5 && s.MemoryBytes > 0 })
			want := SourceCgroup
			if memory := root.Controllers()[0].Version; memory != cgroup.V2 && (noMem || memory != cgroup.V1) {
				want = SourceCgroupProc
			}
			if s.Source != want {
				t.Errorf("sample = %+v, want source %s", s, want)
			}
			// The group alone sees only the sleeping leader.
			g, err := NewReader(cgroup.Dirs{}).Read("busy", "busy-0", cmd.Process.Pid)
			if err != nil || g.CPUSeconds >= s.CPUSeconds/2 {
				t.Errorf("process group sample %+v, %v; cgroup %+v: want the escaped busy loop in the cgroup only", g, err, s)
			}
		})
	}
}
