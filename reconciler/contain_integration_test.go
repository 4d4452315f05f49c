package reconciler

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// Containment, with a cgroup per instance and without (--cgroup-root none):
// what leaves its process group is stopped all the same.

// itContainModes returns the --cgroup-root values to test: the default
// (cgroups) where this machine can have them, and none.
func itContainModes(t *testing.T) map[string]string {
	modes := map[string]string{"processGroup": "none"}
	if _, err := cgroup.Load(); err != nil || os.Geteuid() != 0 {
		t.Logf("cgroup containment not tested: no cgroup v2 hierarchy or not root (%v)", err)
	} else {
		modes["cgroup"] = ""
	}
	return modes
}

// itProgramProcs returns the live processes of this test binary's program
// name: every one whose environment names it, in or out of its group.
func itProgramProcs(name string) []itProc {
	var out []itProc
	for _, pid := range itListPids() {
		if pid == os.Getpid() {
			continue
		}
		if prog, ok := itEnvValue(pid, "RECONCILED_PROGRAM"); !ok || prog != name {
			continue
		}
		if owner, _ := itEnvValue(pid, itOwnerEnv); owner != itOwner {
			continue
		}
		if st, ok := itReadStat(pid); ok && st.state != 'Z' {
			out = append(out, itProc{pid, st.start})
		}
	}
	return out
}

// itWaitProgramProcs waits until name has at least n live processes.
func itWaitProgramProcs(t *testing.T, name string, n int) []itProc {
	t.Helper()
	var procs []itProc
	if !waitfor.Until(waitTimeout, func() bool {
		procs = itProgramProcs(name)
		return len(procs) >= n
	}) {
		t.Fatalf("%s: want %d processes, have %v", name, n, procs)
	}
	return procs
}

// itEscapeCmd leaves three processes outside the leader's process group or
// parentage: a setsid child, a double fork, nohup in the background.
const itEscapeCmd = `["sh", "-c", "setsid sleep 1000 & (sleep 1000 &); nohup sleep 1000 >/dev/null 2>&1 & exec sleep 1000"]`

func itStopped(st status.ProgramStatus) bool { return st.Status.Phase == "Stopped" }

// A stop reaches every process of the instance: STOPPED means all are gone.
func TestITContainStopEscaped(t *testing.T) {
	for mode, root := range itContainModes(t) {
		t.Run(mode, func(t *testing.T) {
			d := itStart(t, itOpts{cgroupRoot: root})
			name := d.name("escape")
			itWrite(t, d.dir, name, itSpec(itEscapeCmd))
			st := itWaitStatus(t, d.dir, name, "running", itReady(1))
			if st.Status.Containment != mode {
				t.Errorf("status.containment = %q, want %q", st.Status.Containment, mode)
			}
			procs := itWaitProgramProcs(t, name, 4)
			leader := itPids(st)[0]
			if st, _ := itReadStat(procs[0].pid); len(itGroup(leader)) >= 4 {
				t.Fatalf("nothing left the leader's group (%v, %+v): the test proves nothing", itGroup(leader), st)
			}

			itWrite(t, d.dir, name, itSpec(itEscapeCmd, "desired: stopped"))
			itWaitStatus(t, d.dir, name, "stopped", itStopped)
			var left []itProc
			for _, p := range procs {
				if p.alive() {
					left = append(left, p)
				}
			}
			if len(left) > 0 {
				t.Errorf("STOPPED while processes of the instance live: %v", left)
			}
		})
	}
}

// itStopLeavesNothing writes running (a spec), waits until ready instances
// are ready and the program has n processes, writes stopped (the same with
// desired: stopped) and fails if any of those processes outlives STOPPED.
func itStopLeavesNothing(t *testing.T, d *itDaemon, name string, ready, n int, running, stopped string) {
	t.Helper()
	itWrite(t, d.dir, name, running)
	itWaitStatus(t, d.dir, name, "running", itReady(ready))
	procs := itWaitProgramProcs(t, name, n)
	began := time.Now()
	itWrite(t, d.dir, name, stopped)
	itWaitStatus(t, d.dir, name, "stopped", itStopped)
	for _, p := range procs {
		if p.alive() {
			t.Errorf("STOPPED while process %d of the instance lives", p.pid)
		}
	}
	t.Logf("stopped in %v", time.Since(began))
}

// A stop whose leader ignores the stop signal and lives on until its child
// outside the group has gone: that child gets the stop signal at once, from
// a walk of the live leader's tree (it is no orphan while the leader lives),
// and the instance is STOPPED long before stopTimeout.
func TestITContainStopEscapedLiveLeader(t *testing.T) {
	for mode, root := range itContainModes(t) {
		t.Run(mode, func(t *testing.T) {
			d := itStart(t, itOpts{cgroupRoot: root})
			cmd := `["sh", "-c", "setsid sleep 1000 & trap '' TERM; while kill -0 $! 2>/dev/null; do sleep 0.02; done"]`
			itStopLeavesNothing(t, d, d.name("warden"), 1, 2, itSpec(cmd, "stopTimeout: 1h"), itSpec(cmd, "stopTimeout: 1h", "desired: stopped"))
		})
	}
}

// A stop whose leader dies at once, with a member outside its group that
// ignores the stop signal: STOPPED only once that member is gone too, at
// stopTimeout (SIGKILL). The leader's exit alone says nothing, nor does a
// reaper pass that finds the member (handed to the daemon, the subreaper).
func TestITContainStopEscapedIgnoringTERM(t *testing.T) {
	for mode, root := range itContainModes(t) {
		t.Run(mode, func(t *testing.T) {
			d := itStart(t, itOpts{cgroupRoot: root})
			cmd := `["sh", "-c", "setsid sh -c 'trap \"\" TERM; exec sleep 1000' & exec sleep 1000"]`
			itStopLeavesNothing(t, d, d.name("deaf"), 3, 6, itSpec(cmd, "replicas: 3"), itSpec(cmd, "replicas: 3", "desired: stopped", "stopTimeout: 1s"))
		})
	}
}

// A leader that exits on its own: what it left outside its group is
// stopped before the instance starts again.
func TestITContainLeaderExitEscaped(t *testing.T) {
	for mode, root := range itContainModes(t) {
		t.Run(mode, func(t *testing.T) {
			d := itStart(t, itOpts{cgroupRoot: root})
			name := d.name("escexit")
			itWrite(t, d.dir, name, itSpec(itLeaderExitCmd("setsid "), "restartPolicy: Never"))
			itWaitStatus(t, d.dir, name, "running", itReady(1))
			procs := itWaitProgramProcs(t, name, 2)
			itTouch(t, d.dir+"/exit")
			itWaitStatus(t, d.dir, name, "EXITED", itState(0, Exited))
			itWaitGone(t, "the setsid child", procs...)
		})
	}
}

// SIGKILL of the daemon with escaped processes: the next daemon ends them
// before it starts anything.
func TestITContainDaemonSIGKILL(t *testing.T) {
	for mode, root := range itContainModes(t) {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			name := "crash-" + strings.ToLower(mode) + "-" + strconv.Itoa(os.Getpid())
			t.Cleanup(func() { itKillPrograms(name) })
			itWrite(t, dir, name, itSpec(itEscapeCmd))
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), itDaemonDirEnv+"="+dir, itDaemonCgroupEnv+"="+root)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killed := false
			t.Cleanup(func() {
				if !killed {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})
			st := itWaitStatus(t, dir, name, "running", itReady(1))
			old := itPids(st)[0]
			procs := itWaitProgramProcs(t, name, 4)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			killed = true
			var survivors []itProc
			waitfor.Until(waitTimeout, func() bool { // the leader dies with the daemon (parent-death signal)
				survivors = itProgramProcs(name)
				return len(survivors) == 3
			})
			if len(survivors) == 0 {
				t.Fatalf("nothing outlived the daemon: the test proves nothing (had %v)", procs)
			}

			d := itStart(t, itOpts{dir: dir, cgroupRoot: root})
			d.track(name)
			itWaitStatus(t, dir, name, "running again", func(st status.ProgramStatus) bool {
				return itReady(1)(st) && itPids(st)[0] != old
			})
			for _, p := range survivors {
				if p.alive() {
					t.Errorf("process %d of the earlier daemon still alive once the new instance runs", p.pid)
				}
			}
			if log := d.log.String(); !strings.Contains(log, "Removed cgroups an earlier daemon left") && !strings.Contains(log, "Killing a process an earlier daemon left") {
				t.Errorf("the cleanup is not logged")
			}
		})
	}
}

// itCgroupsOnly skips a test of resources where this machine cannot give
// instances cgroups.
func itCgroupsOnly(t *testing.T) {
	t.Helper()
	if _, ok := itContainModes(t)["cgroup"]; !ok {
		t.Skip("no cgroup containment on this machine (cgroup v2 and root needed)")
	}
}

// 200 background sleeps under pids: 50: the shell's fork is refused once
// 50 processes run (it exits 2 then: unlimited, it would wait for ever),
// and what it started is stopped with it; nothing is left.
func TestITContainPidsLimit(t *testing.T) {
	itCgroupsOnly(t)
	d := itStart(t, itOpts{})
	name := d.name("forks")
	cmd := `["sh", "-c", "i=0; while [ $i -lt 200 ]; do sleep 1000 & i=$((i+1)); done; wait"]`
	itWrite(t, d.dir, name, itSpec(cmd, "resources: {pids: 50}", "restartPolicy: Never"))
	st := itWaitStatus(t, d.dir, name, "EXITED", itState(0, Exited))
	if in, _ := itInstance(st, 0); in.LastExit == nil || in.LastExit.Code != 2 {
		t.Errorf("lastExit %+v, want code 2 (the shell cannot fork)", in.LastExit)
	}
	if !waitfor.Until(waitTimeout, func() bool { return len(itProgramProcs(name)) == 0 }) {
		t.Errorf("%d processes left after the leader's exit", len(itProgramProcs(name)))
	}
}

// A leader that holds more than memory: 32Mi is OOM-killed: OOMKilled event,
// lastExit.reason, and a restart as the policy says.
func TestITContainOOMKilled(t *testing.T) {
	itCgroupsOnly(t)
	d := itStart(t, itOpts{})
	name := d.name("hog")
	// The shell keeps the whole output of the substitution: 200 MB.
	cmd := `["sh", "-c", "x=$(yes | head -c 200000000); sleep 1000"]`
	itWrite(t, d.dir, name, itSpec(cmd, "resources: {memory: 32Mi}", "restartDelay: 10ms"))
	itWaitEvents(t, d.dir, name, "OOMKilled", itHasReason("OOMKilled", name+"-0"))
	itWaitStatus(t, d.dir, name, "restarted after the OOM kill", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return ok && in.Restarts >= 1 && in.LastExit != nil && in.LastExit.Reason == "OOMKilled"
	})
}

// A busy loop under cpu: 200m gets at most about a fifth of a core.
func TestITContainCPULimit(t *testing.T) {
	itCgroupsOnly(t)
	d := itStart(t, itOpts{})
	name := d.name("busy")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "while :; do :; done"]`, "resources: {cpu: 200m}"))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	pid := itPids(st)[0]
	cpu := func() time.Duration {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])) // f[0] is field 3
		utime, _ := strconv.ParseUint(f[11], 10, 64)
		stime, _ := strconv.ParseUint(f[12], 10, 64)
		return time.Duration(utime+stime) * (time.Second / 100)
	}
	c0, t0 := cpu(), time.Now()
	time.Sleep(3 * time.Second) // makes time pass: the loop runs under its quota
	c1, wall := cpu(), time.Since(t0)
	if share := float64(c1-c0) / float64(wall); share > 0.3 {
		t.Errorf("the loop used %.2f of a core under cpu: 200m (%v of %v)", share, c1-c0, wall)
	}
}

// limits and ioNice reach the program: /proc/PID/limits and ioprio_get.
func TestITContainRlimitsIONice(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("limited")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "limits: {nofile: 1000, core: 0, nproc: {soft: 300, hard: 400}}", "ioNice: {class: idle}"))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	pid := itPids(st)[0]
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{{"Max open files", "1000", "1000"}, {"Max core file size", "0", "0"}, {"Max processes", "300", "400"}} {
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(strings.TrimPrefix(line, want[0])); strings.HasPrefix(line, want[0]) && len(f) >= 2 && f[0] == want[1] && f[1] == want[2] {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: want %s %s in\n%s", want[0], want[1], want[2], b)
		}
	}
	const ioprioWhoProcess, ioprioClassIdle = 1, 3
	prio, _, errno := syscall.Syscall(syscall.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(pid), 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if class := prio >> 13; class != ioprioClassIdle {
		t.Errorf("I/O class %d, want idle (%d)", class, ioprioClassIdle)
	}
}
