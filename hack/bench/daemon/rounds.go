package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// The baselines in control mode, the spec files, and the start/stop rounds
// (a and d).

func (h *harness) startBaseline(kind string) (*baseline, error) {
	var cmd *exec.Cmd
	n := strconv.Itoa(h.cfg.n)
	switch kind {
	case "C":
		args := []string{"-c", "-t", strconv.Itoa(h.cfg.cThreads)}
		if h.cfg.setpgid {
			args = append(args, "-p")
		}
		cmd = exec.Command(h.cfg.cBin, append(args, n)...)
	case "Go":
		args := []string{"-control", "-workers", strconv.Itoa(h.cfg.goWorkers)}
		if h.cfg.setpgid {
			args = append(args, "-setpgid")
		}
		cmd = exec.Command(h.cfg.goBin, append(args, n)...)
	default:
		return nil, fmt.Errorf("unknown baseline %q", kind)
	}
	p, err := h.procs.StartPiped(kind+" baseline", cmd)
	if err != nil {
		return nil, err
	}
	b := &baseline{Proc: p}
	if _, err := b.expect("ready", 10*time.Second); err != nil {
		p.Kill()
		return nil, err
	}
	return b, nil
}

// expect reads the next line, which must start with key, and returns the
// number after it, if any; it keeps the line's cpu_ns and children_ns, if
// any, in b.cpu and b.children.
func (b *baseline) expect(key string, timeout time.Duration) (int64, error) {
	f, err := b.Expect(key, timeout)
	if err != nil {
		return 0, err
	}
	b.cpu, b.children = 0, 0
	for i := 1; i+1 < len(f); i += 2 {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			continue
		}
		switch f[i] {
		case "cpu_ns":
			b.cpu = time.Duration(n)
		case "children_ns":
			b.children = time.Duration(n)
		}
	}
	if len(f) > 0 {
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, nil
}

// finish waits for a baseline to exit, and kills its group if it does not.
func (h *harness) finish(b *baseline) {
	b.Stdin.Close()
	select {
	case <-b.Done():
	case <-time.After(h.cfg.wait):
		b.Kill()
	}
}

// The spec files.

// benchSpec is the bench program: `sleep 1000` with restartDelay: 0s, or
// with the default restartDelay after delayedReplacements set h.defaultDelay.
func (h *harness) benchSpec(replicas int, desired string) string {
	delay := "0s"
	if h.defaultDelay {
		delay = ""
	}
	return h.programSpec([]string{"sleep", "1000"}, replicas, desired, delay)
}

// programSpec is a spec of argv with startSeconds: 0s and restartDelay:
// delay (none: the default).
func (h *harness) programSpec(argv []string, replicas int, desired, delay string) string {
	var b strings.Builder
	b.WriteString("apiVersion: reconciled.dev/v1\nkind: Program\nspec:\n  command: [")
	for i, a := range argv {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(a))
	}
	fmt.Fprintf(&b, "]\n  replicas: %d\n  desired: %s\n  startSeconds: 0s\n", replicas, desired)
	if delay != "" {
		fmt.Fprintf(&b, "  restartDelay: %s\n", delay)
	}
	if h.cfg.output != "" {
		fmt.Fprintf(&b, "  stdout: %s\n  stderr: %s\n", h.cfg.output, h.cfg.output)
	}
	return b.String()
}

// statusReady returns a poll function for waitRunning that is done when the
// bench status file says readyReplicas: n (and records nothing).
func (h *harness) statusReady(n int) func(time.Duration) bool {
	var at time.Duration
	return h.statusReadyAt(n, &at)
}

func (h *harness) statusReadyAt(n int, at *time.Duration) func(time.Duration) bool {
	path := h.ws.StatusPath("bench")
	return func(el time.Duration) bool {
		s, _ := benchkit.ReadStatusHead(path)
		if s.Desired == "running" && s.Replicas == n && s.Ready == n {
			*at = el
			return true
		}
		return false
	}
}

// a and d.

func (h *harness) baselineRound(kind string) (roundResult, error) {
	var rr roundResult
	b, err := h.startBaseline(kind)
	if err != nil {
		return rr, err
	}
	defer h.finish(b)
	time.Sleep(h.cfg.settle / 5)
	t0 := time.Now()
	if err := b.Send("start"); err != nil {
		return rr, err
	}
	if rr.running, err = waitRunning(h.obs, b.Pid(), h.sleepArgv, h.cfg.n, t0, h.cfg.poll, h.cfg.wait, nil); err != nil {
		return rr, err
	}
	ns, err := b.expect("running_ns", h.cfg.wait)
	if err != nil {
		return rr, err
	}
	rr.selfRun, rr.cpuStart = time.Duration(ns), b.cpu
	time.Sleep(h.cfg.settle)
	pids, err := h.allRunning(b.Pid())
	if err != nil {
		return rr, err
	}
	rr.cpuKids = time.Duration(benchkit.ChildrenNanos(pids))
	w, err := newDeathWatch(pids, h.reapEvents)
	if err != nil {
		return rr, err
	}
	defer w.close()
	host0 := benchkit.ReadHost()
	t1 := time.Now()
	if err := b.Send("stop"); err != nil {
		return rr, err
	}
	if rr.stop, err = waitStopped(h.obs, w, b.Pid(), t1, h.cfg.poll, h.cfg.wait); err != nil {
		return rr, err
	}
	rr.host = benchkit.ReadHost().Since(host0)
	if ns, err = b.expect("stopped_ns", h.cfg.wait); err != nil {
		return rr, err
	}
	rr.selfStop, rr.cpuStop = time.Duration(ns), b.cpu
	rr.cpuExits = max(b.children-rr.cpuKids, 0)
	h.logf("%s: running %v (self %v), stop: dead %v reaped %v (self %v)", kind, rr.running, rr.selfRun, rr.stop.dead, rr.stop.reaped, rr.selfStop)
	time.Sleep(h.cfg.settle)
	return rr, nil
}

func (h *harness) daemonRound() (roundResult, error) {
	var rr roundResult
	dpid := h.daemon.Pid()
	cpu0 := benchkit.RunNanos(dpid)
	t0, err := h.ws.Place("bench", h.benchSpec(h.cfg.n, "running"))
	if err != nil {
		return rr, err
	}
	if rr.running, err = waitRunning(h.obs, dpid, h.sleepArgv, h.cfg.n, t0, h.cfg.poll, h.cfg.wait, h.statusReadyAt(h.cfg.n, &rr.status)); err != nil {
		return rr, err
	}
	rr.cpuStart = time.Duration(benchkit.RunNanos(dpid).Since(cpu0))
	time.Sleep(h.cfg.settle)
	pids, err := h.allRunning(dpid)
	if err != nil {
		return rr, err
	}
	rr.cpuKids = time.Duration(benchkit.ChildrenNanos(pids))
	w, err := newDeathWatch(pids, h.reapEvents)
	if err != nil {
		return rr, err
	}
	defer w.close()
	reaped0, err := benchkit.ChildCPUTicks(dpid)
	if err != nil {
		return rr, err
	}
	cpu0 = benchkit.RunNanos(dpid)
	host0 := benchkit.ReadHost()
	t1, err := h.ws.Place("bench", h.benchSpec(h.cfg.n, "stopped"))
	if err != nil {
		return rr, err
	}
	if rr.stop, err = waitStopped(h.obs, w, dpid, t1, h.cfg.poll, h.cfg.wait); err != nil {
		return rr, err
	}
	rr.host = benchkit.ReadHost().Since(host0)
	rr.cpuStop = time.Duration(benchkit.RunNanos(dpid).Since(cpu0))
	if rr.cpuExits, err = exitsCPU(dpid, reaped0, rr.cpuKids); err != nil {
		return rr, err
	}
	h.logf("daemon: running %v status %v, stop: dead %v reaped %v", rr.running, rr.status, rr.stop.dead, rr.stop.reaped)
	if err := h.ws.Remove("bench"); err != nil {
		return rr, err
	}
	time.Sleep(h.cfg.settle)
	return rr, nil
}

// allRunning returns the N sleep children of parent. A children file is not a
// snapshot and may skip an entry, so a short listing is retried.
func (h *harness) allRunning(parent int) ([]int, error) {
	var pids []int
	var err error
	for range 10 {
		if pids, err = h.obs.Matching(parent, h.sleepArgv); err == nil && len(pids) == h.cfg.n {
			return pids, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%d sleep children, want %d", len(pids), h.cfg.n)
}

// exitsCPU is the CPU time the daemon's children took over a stop, their
// exits: what reaping them all added to parent's cutime+cstime (10 ms
// ticks) since it read reaped0, less before, the CPU they had used until
// the stop. The baselines tell theirs (children_ns, getrusage).
func exitsCPU(parent int, reaped0 int64, before time.Duration) (time.Duration, error) {
	reaped, err := benchkit.ChildCPUTicks(parent)
	if err != nil {
		return 0, err
	}
	return max(time.Duration(reaped-reaped0)*benchkit.TickDuration-before, 0), nil
}
