// Command daemon (hack/bench/daemon) benchmarks a built reconciled binary
// with N instances of `sleep 1000` against the C and Go spawn baselines
// (hack/bench/baseline, hack/bench/baseline-go), run in the same invocation
// and interleaved with the daemon's runs (C D Go D C D Go D ...), because the
// machine is noisy. It builds nothing: run.sh builds and passes the binaries.
//
// -n takes a list (100,1000,5000): each N gets a daemon of its own in a
// directory of its own, the whole set of figures below, its own table, and
// a row in the summary across N at the end (figure, and figure / N).
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
//	s  replicas: 10 -> N (rename) until all N run
//	b  SIGKILL of one instance until its replacement runs, with
//	   restartDelay: 0s (the baselines respawn too, which gives the floor)
//	   and then with the default restartDelay; each victim is an instance
//	   never restarted before, so that the delay has not grown; the
//	   daemon's CPU over each series, per replacement
//	c  an edit of a replicas: 1 spec's command until the new process runs
//	e  the daemon's CPU (utime+stime) over an idle period with N running,
//	   and its VmRSS and VmHWM, next to its VmRSS with no program
//	f  `reconciled status --dir D` and `status -o json`, wall and CPU time,
//	   next to the same command on an empty directory (the start-up floor)
//
// It prints a table of medians and ratios per N and a summary. Everything it
// starts carries RECONCILED_BENCH_TOKEN=<token> in its environment; at the
// end, on failure and on SIGINT/SIGTERM it stops the daemon (SIGTERM, then
// SIGKILL to its process group), kills the baselines, and SIGKILLs whatever
// still carries the token.
package main

import (
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

type config struct {
	bin, cBin, goBin  string
	ns                []int
	n                 int // the N being measured
	rounds            int
	kills, edits      int
	delayKills        int
	scaleFrom         int
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
	var ns string
	flag.StringVar(&c.bin, "bin", "", "the reconciled binary (required)")
	flag.StringVar(&c.cBin, "c", "", "the C baseline binary, built from hack/bench/baseline/spawn.c (required)")
	flag.StringVar(&c.goBin, "go", "", "the Go baseline binary, built from hack/bench/baseline-go (required)")
	flag.StringVar(&ns, "n", "1000", "instances of `sleep 1000`: one N or a comma-separated list (100,1000,5000), each measured in turn")
	flag.IntVar(&c.rounds, "rounds", 5, "start/stop rounds; each is C, daemon, Go, daemon")
	flag.IntVar(&c.kills, "kills", 20, "SIGKILL replacements measured per target (daemon, C, Go) with restartDelay: 0s; 0 skips b")
	flag.IntVar(&c.delayKills, "delay-kills", -1, "SIGKILL replacements of the daemon's with the default restartDelay (-1: as -kills)")
	flag.IntVar(&c.scaleFrom, "scale-from", 10, "replicas before the scale to N (s); 0 starts N at once")
	flag.IntVar(&c.edits, "edits", 20, "spec edits measured; 0 skips c")
	flag.IntVar(&c.statusRuns, "status-runs", 10, "runs of `reconciled status` (table and -o json each); 0 skips f")
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
	for _, f := range strings.Split(ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			c.ns = nil
			break
		}
		c.ns = append(c.ns, n)
	}
	if c.delayKills < 0 {
		c.delayKills = c.kills
	}
	if c.bin == "" || c.cBin == "" || c.goBin == "" || len(c.ns) == 0 || c.rounds <= 0 {
		fmt.Fprintln(os.Stderr, "usage: daemon -bin RECONCILED -c SPAWN_C -go SPAWN_GO [-n 100,1000,5000] [-rounds 5] ...")
		flag.PrintDefaults()
		os.Exit(2)
	}
	return c
}

// baseline is a baseline in control mode (see spawn.c).
type baseline struct {
	*benchkit.Proc
	cpu      time.Duration // cpu_ns of the last line read: the baseline's own CPU for that step
	children time.Duration // children_ns of the last line read: what the children it reaped in that step used
}

type harness struct {
	cfg       config
	obs       *benchkit.Observer
	rng       *mrand.Rand
	procs     *benchkit.Procs
	top       string // the scratch directory; one workspace per N in it
	removeTop bool
	sleepArgv string
	// reapEvents: the kernel reports reaps on pidfds (see reapEventsWork),
	// so d's "all reaped" comes from those events, not from listing the
	// parent's children
	reapEvents bool

	// per N
	ws     *benchkit.Workspace
	empty  string
	dlog   string
	daemon *benchkit.Proc
	// defaultDelay: the bench spec leaves restartDelay at its default
	// (set for the second series of b and what follows)
	defaultDelay bool
}

func main() {
	cfg := parseFlags()
	h := &harness{cfg: cfg, obs: benchkit.NewObserver(), rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1)),
		procs: benchkit.NewProcs(cfg.token), sleepArgv: benchkit.Cmdline("sleep", "1000")}
	if err := h.obs.WatchExecs(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: b: replacements found by polling the children every %v (%v)\n", cfg.finePoll, err)
	}
	stop := benchkit.Guard("bench", cfg.timeout, func() { h.cleanup() }, os.Exit)
	all, err := h.run()
	stop()
	leaked := h.cleanup()
	if leaked > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d processes were still alive at the end and were killed\n", leaked)
	}
	if len(all) > 1 {
		h.summary(all)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		if cfg.keep || cfg.workDir != "" {
			fmt.Fprintln(os.Stderr, "bench: daemon log:", h.dlog)
		}
		os.Exit(1)
	}
}

// fdsPerInstance is what the daemon holds per instance (a pidfd and the
// read ends of two output pipes); fdsSpare covers the rest of the daemon.
const fdsPerInstance, fdsSpare = 3, 256

// run measures every N in turn and returns the results of those done.
func (h *harness) run() ([]*results, error) {
	was, now, err := benchkit.RaiseNofile()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "bench: open files: soft limit %d (was %d), hard %d; load average %s\n", now.Cur, was.Cur, now.Max, benchkit.LoadAvg())
	for _, n := range h.cfg.ns {
		if need := uint64(fdsPerInstance*n + fdsSpare); need > now.Cur {
			return nil, fmt.Errorf("N=%d needs about %d open files in the daemon, the limit is %d (raise the hard limit: ulimit -Hn)", n, need, now.Cur)
		}
	}
	if err := checkSleep(); err != nil {
		return nil, err
	}
	if h.top = h.cfg.workDir; h.top == "" {
		if h.top, err = os.MkdirTemp("", "rcd-bench-"); err != nil {
			return nil, err
		}
		h.removeTop = !h.cfg.keep
	}
	if h.reapEvents, err = reapEventsWork(h.procs.Env()); err != nil {
		return nil, fmt.Errorf("probing pidfd reap events: %w", err)
	}
	var all []*results
	for _, n := range h.cfg.ns {
		h.cfg.n = n
		r := newResults(n)
		all = append(all, r)
		if err := h.runN(r); err != nil {
			return all, fmt.Errorf("N=%d: %w", n, err)
		}
		h.report(r)
	}
	return all, nil
}

// runN measures everything at h.cfg.n with a daemon of its own, which it
// leaves stopped.
func (h *harness) runN(r *results) error {
	cfg := h.cfg
	ws, err := benchkit.NewWorkspace(filepath.Join(h.top, "n"+strconv.Itoa(cfg.n)), "", true, cfg.wait)
	if err != nil {
		return err
	}
	h.ws, h.dlog, h.defaultDelay = ws, ws.Log, false
	h.empty = filepath.Join(ws.Root, "empty")
	if err := os.MkdirAll(h.empty, 0o755); err != nil {
		return err
	}
	r.loadStart = benchkit.LoadAvg()
	host0, began := benchkit.ReadHost(), time.Now()
	defer func() { r.host, r.hostFor = benchkit.ReadHost().Since(host0), time.Since(began) }()
	fmt.Fprintf(os.Stderr, "bench: N=%d rounds=%d kills=%d+%d edits=%d status-runs=%d idle=%v, work dir %s, load %s\n",
		cfg.n, cfg.rounds, cfg.kills, cfg.delayKills, cfg.edits, cfg.statusRuns, cfg.idle, ws.Root, r.loadStart)
	if h.daemon, err = h.procs.StartDaemon(cfg.bin, ws.Specs, ws.Log, cfg.daemonArgs()...); err != nil {
		return err
	}
	time.Sleep(2 * cfg.settle)
	r.baseRSSKiB, _, _ = benchkit.MemKiB(h.daemon.Pid())

	// a and d: C D Go D, rounds times.
	for round := range cfg.rounds {
		for _, kind := range []string{"C", "Go"} {
			fmt.Fprintf(os.Stderr, "bench: N=%d round %d/%d: %s baseline, then daemon\n", cfg.n, round+1, cfg.rounds, kind)
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

	// s, then b, c, f, e with N running, then d".
	if err := h.scaleRun(r); err != nil {
		return err
	}
	_, r.hwmAfterStartKiB, _ = benchkit.MemKiB(h.daemon.Pid())
	time.Sleep(cfg.settle)
	originals, err := h.obs.Matching(h.daemon.Pid(), h.sleepArgv)
	if err != nil {
		return err
	}
	dv := h.newVictims(originals) // shared: no instance is a victim twice
	if err := h.replacements(r, dv); err != nil {
		return err
	}
	if err := h.delayedReplacements(r, dv); err != nil {
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
	if !h.daemon.Exited() {
		h.daemon.Stop(h.cfg.wait)
	}
	r.loadEnd = benchkit.LoadAvg()
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

// cleanup stops everything the harness started, removes the scratch
// directory if it made it (and -keep is not set), and returns how many
// processes carrying the token it had to kill at the end. It is idempotent.
func (h *harness) cleanup() int {
	leaked := h.procs.Cleanup(nil)
	if h.removeTop {
		h.removeTop = false
		if err := os.RemoveAll(h.top); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	return leaked
}
