// Command daemon (hack/bench/daemon) benchmarks a built reconciled binary
// with N instances of `sleep 1000` against the C and Go spawn baselines
// (hack/bench/baseline, hack/bench/baseline-go), run in the same invocation
// and interleaved with the daemon's runs (C D Go D C D Go D ...), because the
// machine is noisy. It builds nothing: run.sh builds and passes the binaries.
//
// It measures, all from outside the processes through /proc and pidfds, the
// same way for the daemon and the baselines:
//
//	a  placing a replicas: N spec (rename into the directory) until all N
//	   children of the daemon have exec'd sleep; also until the status file
//	   says readyReplicas: N (startSeconds: 0s)
//	d  desired: stopped (rename) until every instance has exited and been
//	   reaped; at the end, SIGTERM to the daemon with N running until it has
//	   exited (d"), -shutdowns times, restarting it in between
//	b  SIGKILL of one instance until its replacement runs (restartDelay: 0s);
//	   the baselines respawn too, which gives the floor
//	c  an edit of a replicas: 1 spec's command until the new process runs
//	e  the daemon's CPU (utime+stime) over an idle period with N running,
//	   and its VmRSS and VmHWM
//	f  `reconciled status --dir D` wall time, next to the same command on an
//	   empty directory (the process start-up floor)
//
// It prints a table of medians and ratios. Everything it starts carries
// RECONCILED_BENCH_TOKEN=<token> in its environment; at the end, on failure
// and on SIGINT/SIGTERM it stops the daemon (SIGTERM, then SIGKILL to its
// process group), kills the baselines, and SIGKILLs whatever still carries
// the token.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

type config struct {
	bin, cBin, goBin  string
	n                 int
	rounds            int
	kills, edits      int
	statusRuns        int
	shutdowns         int
	idle              time.Duration
	cThreads          int
	goWorkers         int
	setpgid           bool
	output            string
	poll, finePoll    time.Duration
	settle            time.Duration
	wait, timeout     time.Duration
	workDir, token    string
	keep, verbose     bool
	skipKillBaselines bool
	cgroupRoot        string
}

// daemonArgs are the flags of `reconciled run` beyond --dir.
func (c config) daemonArgs() []string {
	if c.cgroupRoot == "" {
		return nil
	}
	return []string{"--cgroup-root", c.cgroupRoot}
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.bin, "bin", "", "the reconciled binary (required)")
	flag.StringVar(&c.cBin, "c", "", "the C baseline binary, built from hack/bench/baseline/spawn.c (required)")
	flag.StringVar(&c.goBin, "go", "", "the Go baseline binary, built from hack/bench/baseline-go (required)")
	flag.IntVar(&c.n, "n", 1000, "instances of `sleep 1000`")
	flag.IntVar(&c.rounds, "rounds", 5, "start/stop rounds; each is C, daemon, Go, daemon")
	flag.IntVar(&c.kills, "kills", 20, "SIGKILL replacements measured per target (daemon, C, Go); 0 skips b")
	flag.IntVar(&c.edits, "edits", 20, "spec edits measured; 0 skips c")
	flag.IntVar(&c.statusRuns, "status-runs", 10, "runs of `reconciled status`; 0 skips f")
	flag.IntVar(&c.shutdowns, "shutdowns", 5, "SIGTERMs to the daemon with N running (d\"), each but the first after a restart that starts N again; 0 skips d\"")
	flag.DurationVar(&c.idle, "idle", 60*time.Second, "idle period for the CPU figure (0 skips it); reported per 60 s")
	flag.IntVar(&c.cThreads, "c-threads", 2, "spawning threads of the C baseline")
	flag.IntVar(&c.goWorkers, "go-workers", 4, "spawning goroutines of the Go baseline")
	flag.BoolVar(&c.setpgid, "setpgid", false, "baselines put each child in its own process group, as the daemon does")
	flag.StringVar(&c.output, "output", "", "spec.stdout and spec.stderr of the benchmark programs (auto, null, inherit; empty: the default, auto)")
	flag.DurationVar(&c.poll, "poll", 2*time.Millisecond, "poll interval of /proc while starting and stopping N")
	flag.DurationVar(&c.finePoll, "fine-poll", 100*time.Microsecond, "poll interval of /proc for replacements and edits")
	flag.DurationVar(&c.settle, "settle", 500*time.Millisecond, "quiet time between measurements")
	flag.DurationVar(&c.wait, "wait", 2*time.Minute, "bound of any single wait")
	flag.DurationVar(&c.timeout, "timeout", 25*time.Minute, "bound of the whole benchmark")
	flag.StringVar(&c.workDir, "workdir", "", "scratch directory (default: a new one under $TMPDIR, removed at the end)")
	flag.StringVar(&c.token, "token", "", "marker put in the environment of everything started (default: random)")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch directory (daemon log, status files)")
	flag.BoolVar(&c.verbose, "v", false, "print every sample as it is taken")
	flag.BoolVar(&c.skipKillBaselines, "no-kill-floor", false, "do not run the baselines' respawn floor for figure b")
	flag.StringVar(&c.cgroupRoot, "cgroup-root", "", "the daemon's --cgroup-root (none: process groups only; empty: its default)")
	flag.Parse()
	if c.bin == "" || c.cBin == "" || c.goBin == "" || c.n <= 0 || c.rounds <= 0 {
		fmt.Fprintln(os.Stderr, "usage: daemon -bin RECONCILED -c SPAWN_C -go SPAWN_GO [-n 1000] [-rounds 5] ...")
		flag.PrintDefaults()
		os.Exit(2)
	}
	return c
}

// baseline is a baseline in control mode (see spawn.c).
type baseline struct {
	*benchkit.Proc
	cpu time.Duration // cpu_ns of the last line read: the baseline's own CPU for that step
}

type harness struct {
	cfg       config
	obs       *benchkit.Observer
	rng       *mrand.Rand
	procs     *benchkit.Procs
	ws        *benchkit.Workspace
	empty     string
	dlog      string
	sleepArgv string
	daemon    *benchkit.Proc
	// reapEvents: the kernel reports reaps on pidfds (see reapEventsWork),
	// so d's "all reaped" comes from those events, not from listing the
	// parent's children
	reapEvents bool
}

func main() {
	cfg := parseFlags()
	h := &harness{cfg: cfg, obs: benchkit.NewObserver(), rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1)),
		procs: benchkit.NewProcs(cfg.token), sleepArgv: benchkit.Cmdline("sleep", "1000")}
	stop := benchkit.Guard("bench", cfg.timeout, func() { h.cleanup() }, os.Exit)
	err := h.run()
	stop()
	leaked := h.cleanup()
	if leaked > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d processes were still alive at the end and were killed\n", leaked)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		if cfg.keep || cfg.workDir != "" {
			fmt.Fprintln(os.Stderr, "bench: daemon log:", h.dlog)
		}
		os.Exit(1)
	}
}

// results collects every figure.
type results struct {
	// a and d, per kind: "C", "Go", "daemon"
	running, status map[string]samples
	cpuStart        map[string]samples
	cpuStop         map[string]samples
	cpuKids         map[string]samples
	selfRun         map[string]samples
	dead, reaped    map[string]samples
	selfStop        map[string]samples
	// paired ratios: the daemon's run over the baseline run just before it
	pairRun, pairStop map[string][]float64
	// b
	replace map[string]samples
	// c
	edit samples
	// f
	statusCmd, statusEmpty samples
	statusLines            int
	// e
	idleTicks        int64
	idleNanos        int64
	rssKiB, hwmKiB   int64
	hwmAfterStartKiB int64
	threadsIdle      int
	shutdownDead     samples
	shutdownExit     samples
	shutdownErr      error
	idleDur          time.Duration
}

func newResults() *results {
	return &results{
		running: map[string]samples{}, status: map[string]samples{}, selfRun: map[string]samples{},
		cpuStart: map[string]samples{}, cpuStop: map[string]samples{}, cpuKids: map[string]samples{},
		dead: map[string]samples{}, reaped: map[string]samples{}, selfStop: map[string]samples{},
		pairRun: map[string][]float64{}, pairStop: map[string][]float64{}, replace: map[string]samples{},
	}
}

func (h *harness) logf(format string, args ...any) {
	if h.cfg.verbose {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}
}

func (h *harness) run() error {
	cfg := h.cfg
	ws, err := benchkit.NewWorkspace(cfg.workDir, "rcd-bench-", cfg.keep, cfg.wait)
	if err != nil {
		return err
	}
	h.ws, h.dlog = ws, ws.Log
	h.empty = filepath.Join(ws.Root, "empty")
	if err := os.MkdirAll(h.empty, 0o755); err != nil {
		return err
	}
	if err := checkSleep(); err != nil {
		return err
	}
	if h.reapEvents, err = reapEventsWork(h.procs.Env()); err != nil {
		return fmt.Errorf("probing pidfd reap events: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: N=%d rounds=%d kills=%d edits=%d status-runs=%d idle=%v, work dir %s\n",
		cfg.n, cfg.rounds, cfg.kills, cfg.edits, cfg.statusRuns, cfg.idle, ws.Root)
	if h.daemon, err = h.procs.StartDaemon(cfg.bin, ws.Specs, ws.Log, cfg.daemonArgs()...); err != nil {
		return err
	}
	time.Sleep(cfg.settle)
	r := newResults()

	// a and d: C D Go D, rounds times.
	for round := range cfg.rounds {
		for _, kind := range []string{"C", "Go"} {
			fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s baseline, then daemon\n", round+1, cfg.rounds, kind)
			bs, err := h.baselineRound(kind)
			if err != nil {
				return fmt.Errorf("%s baseline round %d: %w", kind, round+1, err)
			}
			r.add(kind, bs)
			ds, err := h.daemonRound()
			if err != nil {
				return fmt.Errorf("daemon round %d: %w", round+1, err)
			}
			r.add("daemon", ds)
			r.pairRun[kind] = append(r.pairRun[kind], ratio(ds.running, bs.running))
			r.pairStop[kind] = append(r.pairStop[kind], ratio(ds.stop.reaped, bs.stop.reaped))
		}
	}

	// b, c, e, f with N running.
	fmt.Fprintln(os.Stderr, "bench: starting N for the steady-state figures")
	t0, err := h.ws.Place("bench", h.benchSpec(cfg.n, "running"))
	if err != nil {
		return err
	}
	if _, err := waitRunning(h.obs, h.daemon.Pid(), h.sleepArgv, cfg.n, t0, cfg.poll, cfg.wait, h.statusReady(cfg.n)); err != nil {
		return fmt.Errorf("start N: %w", err)
	}
	_, r.hwmAfterStartKiB, _ = benchkit.MemKiB(h.daemon.Pid())
	time.Sleep(cfg.settle)
	if err := h.replacements(r); err != nil {
		return err
	}
	if err := h.editsRun(r); err != nil {
		return err
	}
	if err := h.statusRun(r); err != nil {
		return err
	}
	if err := h.idleRun(r); err != nil {
		return err
	}
	h.shutdownRun(r)
	h.report(r)
	return nil
}

func checkSleep() error {
	if _, err := os.Stat("/usr/bin/sleep"); err != nil {
		return fmt.Errorf("the baselines exec /usr/bin/sleep: %w", err)
	}
	if p, err := exec.LookPath("sleep"); err != nil || p != "/usr/bin/sleep" {
		if r, _ := filepath.EvalSymlinks(p); r != "/usr/bin/sleep" {
			fmt.Fprintf(os.Stderr, "bench: warning: sleep on PATH is %q, the baselines use /usr/bin/sleep\n", p)
		}
	}
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

type roundResult struct {
	running, status   time.Duration
	selfRun, selfStop time.Duration
	stop              stopTimes
	// CPU time (utime+stime) of the parent itself, not of its children,
	// over the start and over the stop
	cpuStart, cpuStop time.Duration
	// CPU time of the N children from their fork until they idle in sleep
	// (read once they all run, after -settle): what each costs before exec
	// (its share of fork and exec, which the parent's figure does not
	// show) plus sleep's own start-up, the same on both sides
	cpuKids time.Duration
}

func (r *results) add(kind string, rr roundResult) {
	r.running[kind] = append(r.running[kind], rr.running)
	if rr.status > 0 {
		r.status[kind] = append(r.status[kind], rr.status)
	}
	if rr.selfRun > 0 {
		r.selfRun[kind] = append(r.selfRun[kind], rr.selfRun)
		r.selfStop[kind] = append(r.selfStop[kind], rr.selfStop)
	}
	r.dead[kind] = append(r.dead[kind], rr.stop.dead)
	r.reaped[kind] = append(r.reaped[kind], rr.stop.reaped)
	r.cpuStart[kind] = append(r.cpuStart[kind], rr.cpuStart)
	r.cpuStop[kind] = append(r.cpuStop[kind], rr.cpuStop)
	r.cpuKids[kind] = append(r.cpuKids[kind], rr.cpuKids)
}

// ---- the processes ----

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
// number after it, if any; it keeps the line's cpu_ns, if any, in b.cpu.
func (b *baseline) expect(key string, timeout time.Duration) (int64, error) {
	f, err := b.Expect(key, timeout)
	if err != nil {
		return 0, err
	}
	b.cpu = 0
	if len(f) > 2 && f[1] == "cpu_ns" {
		if n, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			b.cpu = time.Duration(n)
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

// ---- the spec files ----

func (h *harness) benchSpec(replicas int, desired string) string {
	return h.programSpec([]string{"sleep", "1000"}, replicas, desired)
}

func (h *harness) programSpec(argv []string, replicas int, desired string) string {
	var b strings.Builder
	b.WriteString("apiVersion: reconciled.dev/v1\nkind: Program\nspec:\n  command: [")
	for i, a := range argv {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(a))
	}
	fmt.Fprintf(&b, "]\n  replicas: %d\n  desired: %s\n  startSeconds: 0s\n  restartDelay: 0s\n", replicas, desired)
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

// ---- a and d ----

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
	t1 := time.Now()
	if err := b.Send("stop"); err != nil {
		return rr, err
	}
	if rr.stop, err = waitStopped(h.obs, w, b.Pid(), t1, h.cfg.poll, h.cfg.wait); err != nil {
		return rr, err
	}
	if ns, err = b.expect("stopped_ns", h.cfg.wait); err != nil {
		return rr, err
	}
	rr.selfStop, rr.cpuStop = time.Duration(ns), b.cpu
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
	cpu0 = benchkit.RunNanos(dpid)
	t1, err := h.ws.Place("bench", h.benchSpec(h.cfg.n, "stopped"))
	if err != nil {
		return rr, err
	}
	if rr.stop, err = waitStopped(h.obs, w, dpid, t1, h.cfg.poll, h.cfg.wait); err != nil {
		return rr, err
	}
	rr.cpuStop = time.Duration(benchkit.RunNanos(dpid).Since(cpu0))
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

// ---- b ----

func (h *harness) replacements(r *results) error {
	if h.cfg.kills <= 0 {
		return nil
	}
	type target struct {
		name string
		pid  int
	}
	targets := []target{{"daemon", h.daemon.Pid()}}
	var bases []*baseline
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
			targets = append(targets, target{kind, b.Pid()})
		}
		time.Sleep(h.cfg.settle)
	}
	fmt.Fprintf(os.Stderr, "bench: b: %d SIGKILL replacements per target\n", h.cfg.kills)
	for i := range h.cfg.kills {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			d, victim, err := h.obs.Replacement(t.pid, h.sleepArgv, h.rng, h.cfg.finePoll, 10*time.Second)
			if err != nil {
				return fmt.Errorf("b (%s): %w", t.name, err)
			}
			r.replace[t.name] = append(r.replace[t.name], d)
			h.logf("b %s: killed %d, replacement after %v", t.name, victim, d)
			waitGone(h.obs, t.pid, victim, 5*time.Second)
			time.Sleep(50*time.Millisecond + time.Duration(h.rng.IntN(100))*time.Millisecond)
		}
	}
	for _, b := range bases {
		if err := b.Send("stop"); err != nil {
			return err
		}
		if _, err := b.expect("stopped_ns", h.cfg.wait); err != nil {
			return err
		}
		h.finish(b)
	}
	time.Sleep(h.cfg.settle)
	return nil
}

// ---- c ----

func (h *harness) editsRun(r *results) error {
	if h.cfg.edits <= 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: c: %d edits\n", h.cfg.edits)
	dpid := h.daemon.Pid()
	arg := func(i int) string { return strconv.Itoa(1001 + i%2) }
	t0, err := h.ws.Place("edit", h.programSpec([]string{"sleep", arg(0)}, 1, "running"))
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
		t0, err := h.ws.Place("edit", h.programSpec([]string{"sleep", arg(i)}, 1, "running"))
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

// ---- f ----

func (h *harness) statusRun(r *results) error {
	if h.cfg.statusRuns <= 0 {
		return nil
	}
	fmt.Fprintf(os.Stderr, "bench: f: %d runs of reconciled status\n", h.cfg.statusRuns)
	run := func(dir string) (time.Duration, int, error) {
		var out bytes.Buffer
		cmd := exec.Command(h.cfg.bin, "status", "--dir", dir)
		cmd.Env = h.procs.Env()
		cmd.Stdout, cmd.Stderr = &out, io.Discard
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		return d, bytes.Count(out.Bytes(), []byte("\n")), err
	}
	for range h.cfg.statusRuns {
		d, _, _ := run(h.empty) // no daemon there: exits 0 with a note
		r.statusEmpty = append(r.statusEmpty, d)
		d, lines, err := run(h.ws.Specs)
		if err != nil {
			return fmt.Errorf("f: reconciled status: %w", err)
		}
		r.statusCmd = append(r.statusCmd, d)
		r.statusLines = lines
		time.Sleep(50 * time.Millisecond)
	}
	if r.statusLines < h.cfg.n {
		return fmt.Errorf("f: reconciled status printed %d lines, want at least %d", r.statusLines, h.cfg.n)
	}
	return nil
}

// ---- e ----

func (h *harness) idleRun(r *results) error {
	if h.cfg.idle <= 0 {
		return nil
	}
	dpid := h.daemon.Pid()
	fmt.Fprintf(os.Stderr, "bench: e: %v idle with %d running\n", h.cfg.idle, h.cfg.n)
	time.Sleep(2 * time.Second) // let coalesced status writes land
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

// ---- d, by SIGTERM to the daemon ----

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

// ---- cleanup ----

// cleanup stops everything the harness started, removes the scratch
// directory if it made it (and -keep is not set), and returns how many
// processes carrying the token it had to kill at the end. It is idempotent.
func (h *harness) cleanup() int { return h.procs.Cleanup(h.ws) }

// ---- the report ----

func (h *harness) report(r *results) {
	cfg := h.cfg
	N := cfg.n
	fmt.Printf("\nreconciled benchmark: N=%d sleep instances, %d rounds (C D Go D ...), %d kills, %d edits, %d status runs, idle %v\n",
		N, cfg.rounds, cfg.kills, cfg.edits, cfg.statusRuns, r.idleDur.Round(time.Second))
	fmt.Printf("baselines: C posix_spawn from %d threads, Go syscall.ForkExec from %d goroutines (setpgid: %v); spec stdout/stderr: %s\n",
		cfg.cThreads, cfg.goWorkers, cfg.setpgid, orDefault(cfg.output, "auto (default)"))
	if h.reapEvents {
		fmt.Println("d \"all reaped\": from the pidfds' hang-ups at the reap (EPOLLHUP), no /proc polling")
	} else {
		fmt.Printf("d \"all reaped\": listing the parent's children every %v once all exited (this kernel reports no reap on a pidfd)\n", cfg.poll)
	}
	fmt.Printf("medians; ratio = daemon median / baseline median (best = the faster baseline); paired = median of per-round ratios to the baseline run just before\n\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\truns\tdaemon\tmin..max\tC\tGo\tratio C\tratio Go\tpaired C/Go\ttarget\tverdict")
	best := func(m map[string]samples) time.Duration {
		c, g := m["C"].median(), m["Go"].median()
		if g > 0 && (c == 0 || g < c) {
			return g
		}
		return c
	}
	row := func(name string, d samples, base map[string]samples, pairs map[string][]float64, target string, ok *bool) {
		c, g := base["C"].median(), base["Go"].median()
		rc, rg := ratio(d.median(), c), ratio(d.median(), g)
		pair := "-"
		if pairs != nil {
			pair = fmt.Sprintf("%.2fx / %.2fx", benchkit.Median(pairs["C"]), benchkit.Median(pairs["Go"]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s..%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, len(d), fmtDur(d.median()),
			fmtDur(d.quantile(0)), fmtDur(d.quantile(1)), fmtDur(c), fmtDur(g), fmtRatio(rc), fmtRatio(rg), pair, target, verdict(ok))
	}
	dm := r.running["daemon"].median()
	okA := ratio(dm, best(r.running)) <= 1.25
	row("a  start N: all exec'd sleep", r.running["daemon"], r.running, r.pairRun, "<=1.25x best", &okA)
	row("a' start N: status readyReplicas=N", r.status["daemon"], r.running, nil, "report", nil)
	var lag samples
	for i, s := range r.status["daemon"] {
		if i < len(r.running["daemon"]) {
			lag = append(lag, s-r.running["daemon"][i])
		}
	}
	row("a\" status lag behind processes", lag, nil, nil, "report", nil)
	row("   CPU of the parent during a (own, not children's)", r.cpuStart["daemon"], r.cpuStart, nil, "report", nil)
	row("   CPU of the N children, fork to idle sleep", r.cpuKids["daemon"], r.cpuKids, nil, "report", nil)
	okD := ratio(r.reaped["daemon"].median(), best(r.reaped)) <= 1.5
	row("d  stop-all (desired: stopped): all reaped", r.reaped["daemon"], r.reaped, r.pairStop, "<=1.5x best", &okD)
	row("d' stop-all (desired: stopped): all exited", r.dead["daemon"], r.dead, nil, "report", nil)
	row("   CPU of the parent during d", r.cpuStop["daemon"], r.cpuStop, nil, "report", nil)
	if len(r.shutdownExit) > 0 {
		okS := ratio(r.shutdownExit.median(), best(r.reaped)) <= 1.5
		row("d\" SIGTERM daemon: daemon exited", r.shutdownExit, r.reaped, nil, "<=1.5x best", &okS)
		row("   SIGTERM daemon: all exited", r.shutdownDead, r.dead, nil, "report", nil)
	}
	if len(r.replace["daemon"]) > 0 {
		okB := r.replace["daemon"].median() < 10*time.Millisecond
		row("b  SIGKILL -> replacement running", r.replace["daemon"], r.replace, nil, "<10ms", &okB)
		row("   p90 of b", samples{r.replace["daemon"].quantile(0.9)}, map[string]samples{"C": {r.replace["C"].quantile(0.9)}, "Go": {r.replace["Go"].quantile(0.9)}}, nil, "report", nil)
	}
	if len(r.edit) > 0 {
		okC := r.edit.median() < 50*time.Millisecond
		row("c  edit command -> new process running", r.edit, nil, nil, "<50ms", &okC)
	}
	if len(r.statusCmd) > 0 {
		okF := r.statusCmd.median() < 100*time.Millisecond
		row(fmt.Sprintf("f  reconciled status (%d lines)", r.statusLines), r.statusCmd, nil, nil, "<100ms", &okF)
		row("   reconciled status, empty dir (floor)", r.statusEmpty, nil, nil, "report", nil)
	}
	tw.Flush()
	if r.idleDur > 0 {
		per60 := float64(r.idleTicks) / 100 * 60 / r.idleDur.Seconds()
		per60ns := float64(r.idleNanos) / 1e9 * 60 / r.idleDur.Seconds()
		okE := per60 < 0.1
		fmt.Printf("\ne  idle CPU (utime+stime): %.2f CPU-s per 60 s (%d ticks in %v; schedstat %.3f CPU-s per 60 s)  target <0.1  %s\n",
			per60, r.idleTicks, r.idleDur.Round(time.Second), per60ns, verdict(&okE))
	}
	if r.rssKiB > 0 {
		okR := r.rssKiB < 50*1024 && r.hwmKiB < 50*1024
		fmt.Printf("e  RSS at idle: VmRSS %.1f MiB, VmHWM %.1f MiB (HWM right after the start of N: %.1f MiB), %d threads  target <50 MiB  %s\n",
			float64(r.rssKiB)/1024, float64(r.hwmKiB)/1024, float64(r.hwmAfterStartKiB)/1024, r.threadsIdle, verdict(&okR))
	}
	if r.shutdownErr != nil {
		fmt.Printf("d\" SIGTERM daemon: error: %v\n", r.shutdownErr)
	}
	fmt.Printf("\nbaselines' own timing (inside the process), medians: start C %s, Go %s; stop C %s, Go %s\n",
		fmtDur(r.selfRun["C"].median()), fmtDur(r.selfRun["Go"].median()), fmtDur(r.selfStop["C"].median()), fmtDur(r.selfStop["Go"].median()))
	fmt.Println("\nsamples:")
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  a %-6s running: %v\n", k, r.running[k])
	}
	fmt.Printf("  a daemon status:  %v\n", r.status["daemon"])
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  a %-6s CPU:     parent %v, children %v\n", k, r.cpuStart[k], r.cpuKids[k])
	}
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  d %-6s reaped:  %v\n", k, r.reaped[k])
	}
	for _, k := range []string{"C", "Go", "daemon"} {
		fmt.Printf("  d %-6s CPU:     parent %v\n", k, r.cpuStop[k])
	}
	for _, k := range []string{"C", "Go", "daemon"} {
		if len(r.replace[k]) > 0 {
			fmt.Printf("  b %-6s:         %v\n", k, r.replace[k])
		}
	}
	fmt.Printf("  d\" daemon exited: %v (all exited %v)\n", r.shutdownExit, r.shutdownDead)
	fmt.Printf("  c edit:           %v\n", r.edit)
	fmt.Printf("  f status:         %v\n", r.statusCmd)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func fmtRatio(r float64) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", r)
}

func verdict(ok *bool) string {
	switch {
	case ok == nil:
		return ""
	case *ok:
		return "PASS"
	default:
		return "MISS"
	}
}
