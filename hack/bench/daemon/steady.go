package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// The figures taken with N running: s, b, c, f, e and d".

// scaleRun places the bench spec with -scale-from replicas, waits for them,
// then scales to N and records until all N run (s); it leaves N running.
func (h *harness) scaleRun(r *results) error {
	cfg := h.cfg
	dpid := h.daemon.Pid()
	if from := cfg.scaleFrom; from > 0 && from < cfg.n {
		fmt.Fprintf(os.Stderr, "bench: s: replicas %d -> %d\n", from, cfg.n)
		t0, err := h.ws.Place("bench", h.benchSpec(from, "running"))
		if err != nil {
			return err
		}
		if _, err := waitRunning(h.obs, dpid, h.sleepArgv, from, t0, cfg.poll, cfg.wait, h.statusReady(from)); err != nil {
			return fmt.Errorf("s: start %d: %w", from, err)
		}
		time.Sleep(cfg.settle)
		var ready time.Duration
		cpu0 := benchkit.RunNanos(dpid)
		t0, err = h.ws.Place("bench", h.benchSpec(cfg.n, "running"))
		if err != nil {
			return err
		}
		d, err := waitRunning(h.obs, dpid, h.sleepArgv, cfg.n, t0, cfg.poll, cfg.wait, h.statusReadyAt(cfg.n, &ready))
		if err != nil {
			return fmt.Errorf("s: scale to %d: %w", cfg.n, err)
		}
		r.scale, r.scaleStatus = append(r.scale, d), append(r.scaleStatus, ready)
		r.scaleCPU = append(r.scaleCPU, time.Duration(benchkit.RunNanos(dpid).Since(cpu0)))
		h.logf("s: %d -> %d running after %v, ready in the status after %v", from, cfg.n, d, ready)
		return nil
	}
	fmt.Fprintln(os.Stderr, "bench: starting N for the steady-state figures")
	t0, err := h.ws.Place("bench", h.benchSpec(cfg.n, "running"))
	if err != nil {
		return err
	}
	if _, err := waitRunning(h.obs, dpid, h.sleepArgv, cfg.n, t0, cfg.poll, cfg.wait, h.statusReady(cfg.n)); err != nil {
		return fmt.Errorf("start N: %w", err)
	}
	return nil
}

// victims hands out, in random order, processes that were running when it
// was made and have never been replaced: a restart delay that grows with
// each restart of an instance then stays out of the figure.
type victims struct{ pids []int }

func (h *harness) newVictims(pids []int) *victims {
	v := &victims{pids: append([]int(nil), pids...)}
	h.rng.Shuffle(len(v.pids), func(i, j int) { v.pids[i], v.pids[j] = v.pids[j], v.pids[i] })
	return v
}

// next returns the next victim that is still a child of parent running
// want, or 0 when none is left.
func (v *victims) next(o *benchkit.Observer, want string) int {
	for len(v.pids) > 0 {
		pid := v.pids[0]
		v.pids = v.pids[1:]
		if o.CmdlineIs(pid, want) {
			return pid
		}
	}
	return 0
}

// replace kills the next victim of parent and returns the time until its
// replacement runs.
func (h *harness) replace(name string, parent int, v *victims) (time.Duration, error) {
	victim := v.next(h.obs, h.sleepArgv)
	if victim == 0 {
		return 0, fmt.Errorf("b (%s): no instance left that was never replaced", name)
	}
	d, err := h.obs.ReplaceVictim(parent, victim, h.sleepArgv, h.cfg.finePoll, 10*time.Second)
	if err != nil {
		return 0, fmt.Errorf("b (%s): %w", name, err)
	}
	h.logf("b %s: killed %d, replacement after %v", name, victim, d)
	waitGone(h.obs, parent, victim, 5*time.Second)
	return d, nil
}

// replacements takes b with restartDelay: 0s: -kills per target, the
// daemon's victims from dv, interleaved with the baselines'.
func (h *harness) replacements(r *results, dv *victims) error {
	if h.cfg.kills <= 0 {
		return nil
	}
	type target struct {
		name string
		pid  int
		v    *victims
	}
	targets := []target{{"daemon", h.daemon.Pid(), dv}}
	var bases []*baseline
	defer func() {
		for _, b := range bases {
			h.finish(b)
		}
	}()
	if !h.cfg.skipKillBaselines {
		for _, kind := range []string{"C", "Go"} {
			b, err := h.startBaseline(kind)
			if err != nil {
				return err
			}
			bases = append(bases, b)
			t0 := time.Now()
			if err := b.Send("start"); err != nil {
				return err
			}
			if _, err := waitRunning(h.obs, b.Pid(), h.sleepArgv, h.cfg.n, t0, h.cfg.poll, h.cfg.wait, nil); err != nil {
				return fmt.Errorf("%s baseline for b: %w", kind, err)
			}
			if _, err := b.expect("running_ns", h.cfg.wait); err != nil {
				return err
			}
			pids, err := h.obs.Matching(b.Pid(), h.sleepArgv)
			if err != nil {
				return err
			}
			targets = append(targets, target{kind, b.Pid(), h.newVictims(pids)})
		}
		time.Sleep(h.cfg.settle)
	}
	fmt.Fprintf(os.Stderr, "bench: b: %d SIGKILL replacements per target (restartDelay: 0s)\n", h.cfg.kills)
	dpid := h.daemon.Pid()
	cpu0 := benchkit.RunNanos(dpid)
	for i := range h.cfg.kills {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			host0 := benchkit.ReadHost()
			d, err := h.replace(t.name, t.pid, t.v)
			if err != nil {
				return err
			}
			r.replaceHost[t.name] += benchkit.ReadHost().Since(host0).Total()
			r.replace[t.name] = append(r.replace[t.name], d)
			time.Sleep(50*time.Millisecond + time.Duration(h.rng.IntN(100))*time.Millisecond)
		}
	}
	time.Sleep(time.Second) // the last status write lands in the figure
	r.replaceCPU = time.Duration(benchkit.RunNanos(dpid).Since(cpu0))
	for _, b := range bases {
		if err := b.Send("stop"); err != nil {
			return err
		}
		if _, err := b.expect("stopped_ns", h.cfg.wait); err != nil {
			return err
		}
	}
	time.Sleep(h.cfg.settle)
	return nil
}

// defaultRestartDelay is spec.restartDelay's default (docs/reference.md).
const defaultRestartDelay = 100 * time.Millisecond

// delayedReplacements takes b with the default restartDelay: the bench
// spec without restartDelay (not in the spec hash: nothing restarts), then
// -delay-kills replacements of the daemon's. The bench spec keeps the
// default from here on.
func (h *harness) delayedReplacements(r *results, dv *victims) error {
	if h.cfg.delayKills <= 0 {
		return nil
	}
	h.defaultDelay = true
	if _, err := h.ws.Place("bench", h.benchSpec(h.cfg.n, "running")); err != nil {
		return err
	}
	time.Sleep(2 * h.cfg.settle) // the daemon's rescan; nothing to wait for in the status
	fmt.Fprintf(os.Stderr, "bench: b: %d SIGKILL replacements (default restartDelay)\n", h.cfg.delayKills)
	dpid := h.daemon.Pid()
	cpu0 := benchkit.RunNanos(dpid)
	for range h.cfg.delayKills {
		d, err := h.replace("daemon, default delay", dpid, dv)
		if err != nil {
			return err
		}
		r.delayed = append(r.delayed, d)
		time.Sleep(100*time.Millisecond + time.Duration(h.rng.IntN(100))*time.Millisecond)
	}
	time.Sleep(time.Second)
	r.delayedCPU = time.Duration(benchkit.RunNanos(dpid).Since(cpu0))
	r.delayedDelay = defaultRestartDelay
	time.Sleep(h.cfg.settle)
	return nil
}

// editsRun takes c: edits of a replicas: 1 spec's command (sleep 1001 <->
// sleep 1002) until the new process runs.
func (h *harness) editsRun(r *results) error {
	if h.cfg.edits <= 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: c: %d edits\n", h.cfg.edits)
	dpid := h.daemon.Pid()
	arg := func(i int) string { return strconv.Itoa(1001 + i%2) }
	t0, err := h.ws.Place("edit", h.programSpec([]string{"sleep", arg(0)}, 1, "running", "0s"))
	if err != nil {
		return err
	}
	if _, err := waitRunning(h.obs, dpid, benchkit.Cmdline("sleep", arg(0)), 1, t0, h.cfg.poll, h.cfg.wait, nil); err != nil {
		return fmt.Errorf("c: first edit program: %w", err)
	}
	time.Sleep(h.cfg.settle)
	for i := 1; i <= h.cfg.edits; i++ {
		want := benchkit.Cmdline("sleep", arg(i))
		kids, err := h.obs.Children(dpid)
		if err != nil {
			return err
		}
		prior := make(map[int]bool, len(kids))
		for _, k := range kids {
			prior[k] = true
		}
		t0, err := h.ws.Place("edit", h.programSpec([]string{"sleep", arg(i)}, 1, "running", "0s"))
		if err != nil {
			return err
		}
		d, err := h.obs.WaitNewChild(dpid, want, prior, t0, h.cfg.finePoll, 10*time.Second)
		if err != nil {
			return fmt.Errorf("c: edit %d: %w", i, err)
		}
		r.edit = append(r.edit, d)
		h.logf("c: edit %d: new process after %v", i, d)
		// Let the old one go before the next edit.
		old := benchkit.Cmdline("sleep", arg(i+1))
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if m, _ := h.obs.Matching(dpid, old); len(m) == 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(100*time.Millisecond + time.Duration(h.rng.IntN(100))*time.Millisecond)
	}
	if err := h.ws.Remove("edit"); err != nil {
		return err
	}
	time.Sleep(h.cfg.settle)
	return nil
}

// statusRun takes f: `reconciled status` and `status -o json`, each next to
// the same command on an empty directory.
func (h *harness) statusRun(r *results) error {
	if h.cfg.statusRuns <= 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: f: %d runs of reconciled status and status -o json\n", h.cfg.statusRuns)
	run := func(dir string, args ...string) (wall, cpu time.Duration, out []byte, err error) {
		var buf bytes.Buffer
		cmd := exec.Command(h.cfg.bin, append([]string{"status", "--dir", dir}, args...)...)
		cmd.Env = h.procs.Env()
		cmd.Stdout, cmd.Stderr = &buf, io.Discard
		t0 := time.Now()
		err = cmd.Run()
		wall = time.Since(t0)
		if cmd.ProcessState != nil {
			cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		return wall, cpu, buf.Bytes(), err
	}
	for range h.cfg.statusRuns {
		d, _, _, _ := run(h.empty) // no daemon there: exits 0 with a note
		r.statusEmpty = append(r.statusEmpty, d)
		d, cpu, out, err := run(h.ws.Specs)
		if err != nil {
			return fmt.Errorf("f: reconciled status: %w", err)
		}
		r.statusCmd, r.statusCPU = append(r.statusCmd, d), append(r.statusCPU, cpu)
		r.statusLines = bytes.Count(out, []byte("\n"))
		time.Sleep(20 * time.Millisecond)
		d, cpu, out, err = run(h.ws.Specs, "-o", "json")
		if err != nil {
			return fmt.Errorf("f: reconciled status -o json: %w", err)
		}
		r.statusJSON, r.statusJSONCPU = append(r.statusJSON, d), append(r.statusJSONCPU, cpu)
		r.statusJSONBytes = len(out)
		time.Sleep(50 * time.Millisecond)
	}
	if r.statusLines < h.cfg.n {
		return fmt.Errorf("f: reconciled status printed %d lines, want at least %d", r.statusLines, h.cfg.n)
	}
	return nil
}

// settleWait is how long idleRun waits before it measures: the daemon's
// memsettle.DefaultQuiet, plus 2 s.
const settleWait = 7 * time.Second

// idleRun takes e: the daemon's CPU over -idle with N running, and its
// memory.
func (h *harness) idleRun(r *results) error {
	if h.cfg.idle <= 0 {
		return nil
	}
	dpid := h.daemon.Pid()
	fmt.Fprintf(os.Stderr, "bench: e: %v idle with %d running\n", h.cfg.idle, h.cfg.n)
	// Let the tail of the last phase's work end first: coalesced status
	// writes, and the daemon's one memory settle 5 s after its last write
	// (internal/memsettle; its cost is a burst's, not idle work).
	time.Sleep(settleWait)
	c0, err := benchkit.ReadCPU(dpid)
	if err != nil {
		return err
	}
	start := time.Now()
	time.Sleep(h.cfg.idle)
	c1, err := benchkit.ReadCPU(dpid)
	if err != nil {
		return err
	}
	use := c1.Since(c0)
	r.idleTicks, r.idleNanos, r.idleDur = use.Ticks, use.NS, time.Since(start)
	r.rssKiB, r.hwmKiB, _ = benchkit.MemKiB(dpid)
	r.threadsIdle = benchkit.Threads(dpid)
	return nil
}

// shutdownRun takes the d" samples: SIGTERM to the daemon while N run, until
// it has exited. The first uses the daemon every other figure used; each
// later one starts a new daemon on the same directory, whose spec still
// asks for N running, and waits for them (and -settle) first.
func (h *harness) shutdownRun(r *results) {
	for i := range h.cfg.shutdowns {
		if i > 0 {
			if err := h.restartDaemon(i); err != nil {
				r.shutdownErr = err
				return
			}
		}
		fmt.Fprintf(os.Stderr, "bench: d\": SIGTERM %d/%d to the daemon\n", i+1, h.cfg.shutdowns)
		if err := h.shutdownOnce(r); err != nil {
			r.shutdownErr = err
			return
		}
	}
}

// restartDaemon starts the i-th daemon after a shutdown and waits until it
// runs the N instances of the spec left in place.
func (h *harness) restartDaemon(i int) error {
	d, err := h.procs.StartDaemon(h.cfg.bin, h.ws.Specs, fmt.Sprintf("%s.%d", h.dlog, i), h.cfg.daemonArgs()...)
	if err != nil {
		return err
	}
	h.daemon = d
	if _, err := waitRunning(h.obs, d.Pid(), h.sleepArgv, h.cfg.n, time.Now(), h.cfg.poll, h.cfg.wait, nil); err != nil {
		return fmt.Errorf("d\": restart %d: %w", i, err)
	}
	time.Sleep(h.cfg.settle)
	return nil
}

// shutdownOnce sends SIGTERM to the daemon and records when its instances
// have all exited and when it has exited itself.
func (h *harness) shutdownOnce(r *results) error {
	pids, err := h.obs.Matching(h.daemon.Pid(), h.sleepArgv)
	if err != nil {
		return err
	}
	w, err := newDeathWatch(pids, false)
	if err != nil {
		return err
	}
	defer w.close()
	t0 := time.Now()
	if err := h.daemon.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	st, err := waitStopped(h.obs, w, 0, t0, h.cfg.poll, h.cfg.wait)
	if err != nil {
		return err
	}
	select {
	case <-h.daemon.Done():
		r.shutdownExit = append(r.shutdownExit, time.Since(t0))
		r.shutdownDead = append(r.shutdownDead, st.dead)
		if err := h.daemon.Err(); err != nil {
			return fmt.Errorf("daemon exit: %w", err)
		}
	case <-time.After(h.cfg.wait):
		return errors.New("daemon did not exit")
	}
	h.logf("d\": all exited %v, daemon exited %v", st.dead, r.shutdownExit[len(r.shutdownExit)-1])
	return nil
}

func (h *harness) logf(format string, args ...any) {
	if h.cfg.verbose {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}
}
