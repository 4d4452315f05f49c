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
//	   reaped; once more at the end, SIGTERM to the daemon until all exited
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
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

const tokenEnv = "RECONCILED_BENCH_TOKEN"

type config struct {
	bin, cBin, goBin  string
	n                 int
	rounds            int
	kills, edits      int
	statusRuns        int
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
	flag.Parse()
	if c.bin == "" || c.cBin == "" || c.goBin == "" || c.n <= 0 || c.rounds <= 0 {
		fmt.Fprintln(os.Stderr, "usage: daemon -bin RECONCILED -c SPAWN_C -go SPAWN_GO [-n 1000] [-rounds 5] ...")
		flag.PrintDefaults()
		os.Exit(2)
	}
	if c.token == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.token = "rcdbench-" + hex.EncodeToString(b[:])
	}
	return c
}

// proc is a child of the harness: a baseline or the daemon.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd.Wait returned
	err  error         // cmd.Wait's, valid after done
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// baseline is a baseline in control mode (see spawn.c).
type baseline struct {
	*proc
	stdin io.WriteCloser
	lines chan string
	cpu   time.Duration // cpu_ns of the last line read: the baseline's own CPU for that step
}

type harness struct {
	cfg                     config
	obs                     *observer
	rng                     *mrand.Rand
	work, dir, stage, empty string
	dlog                    string
	sleepArgv               string

	mu       sync.Mutex
	procs    []*proc
	daemon   *proc
	cleaned  bool
	cleanErr []string
}

func main() {
	cfg := parseFlags()
	h := &harness{cfg: cfg, obs: newObserver(), rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1)),
		sleepArgv: cmdline("sleep", "1000")}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "bench: %v: cleaning up\n", s)
		h.cleanup()
		os.Exit(130)
	}()
	timer := time.AfterFunc(cfg.timeout, func() {
		fmt.Fprintf(os.Stderr, "bench: the whole run exceeded -timeout %v: cleaning up\n", cfg.timeout)
		h.cleanup()
		os.Exit(1)
	})
	err := h.run()
	timer.Stop()
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
	idleTicks            int64
	idleNanos            int64
	rssKiB, hwmKiB       int64
	hwmAfterStartKiB     int64
	threadsIdle          int
	shutdownDead         time.Duration
	shutdownExit         time.Duration
	shutdownErr          error
	idleDur              time.Duration
	replicasRunningAtEnd int
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
	var err error
	h.work = cfg.workDir
	if h.work == "" {
		if h.work, err = os.MkdirTemp("", "rcd-bench-"); err != nil {
			return err
		}
	}
	h.dir = filepath.Join(h.work, "specs")
	h.stage = filepath.Join(h.work, "stage")
	h.empty = filepath.Join(h.work, "empty")
	h.dlog = filepath.Join(h.work, "daemon.log")
	for _, d := range []string{h.dir, h.stage, h.empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := checkSleep(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: N=%d rounds=%d kills=%d edits=%d status-runs=%d idle=%v, work dir %s\n",
		cfg.n, cfg.rounds, cfg.kills, cfg.edits, cfg.statusRuns, cfg.idle, h.work)
	if err := h.startDaemon(); err != nil {
		return err
	}
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
	t0, err := h.place("bench", h.benchSpec(cfg.n, "running"))
	if err != nil {
		return err
	}
	if _, err := h.obs.waitRunning(h.daemon.pid(), h.sleepArgv, cfg.n, t0, cfg.poll, cfg.wait, h.statusReady(cfg.n)); err != nil {
		return fmt.Errorf("start N: %w", err)
	}
	_, r.hwmAfterStartKiB, _ = memKiB(h.daemon.pid())
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

func (h *harness) env() []string { return append(os.Environ(), tokenEnv+"="+h.cfg.token) }

func (h *harness) track(name string, cmd *exec.Cmd) (*proc, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cleaned {
		return nil, errors.New("cleaning up")
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	h.procs = append(h.procs, p)
	return p, nil
}

func (h *harness) startDaemon() error {
	logf, err := os.Create(h.dlog)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(h.cfg.bin, "run", "--dir", h.dir)
	cmd.Env = h.env()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own group, so that cleanup can kill whatever it leaves; and it
	// dies with the harness (its instances then die with it: PDEATHSIG).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p, err := h.track("daemon", cmd)
	if err != nil {
		return err
	}
	h.daemon = p
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("daemon exited at start (%v); see %s", p.err, h.dlog)
		}
		if b, _ := os.ReadFile(h.dlog); bytes.Contains(b, []byte("Watching directory")) {
			time.Sleep(h.cfg.settle)
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("daemon not watching after 15s; see %s", h.dlog)
}

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
	cmd.Env = h.env()
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// Not cmd.StdoutPipe: Wait (called as soon as the process exits) would
	// close it under the reader and lose the last line.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	p, err := h.track(kind+" baseline", cmd)
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	b := &baseline{proc: p, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	if _, err := b.expect("ready", 10*time.Second); err != nil {
		h.kill(p)
		return nil, err
	}
	return b, nil
}

func (b *baseline) send(line string) error {
	_, err := io.WriteString(b.stdin, line+"\n")
	return err
}

// expect reads the next line, which must start with key, and returns the
// number after it, if any.
func (b *baseline) expect(key string, timeout time.Duration) (int64, error) {
	select {
	case line, ok := <-b.lines:
		if !ok {
			select {
			case <-b.done:
				return 0, fmt.Errorf("%s: exited (%v) while waiting for %q", b.name, b.err, key)
			case <-time.After(time.Second):
				return 0, fmt.Errorf("%s: closed its output while waiting for %q", b.name, key)
			}
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != key {
			return 0, fmt.Errorf("%s: got %q, want %q", b.name, line, key)
		}
		b.cpu = 0
		if len(f) > 3 && f[2] == "cpu_ns" {
			if n, err := strconv.ParseInt(f[3], 10, 64); err == nil {
				b.cpu = time.Duration(n)
			}
		}
		if len(f) > 1 {
			return strconv.ParseInt(f[1], 10, 64)
		}
		return 0, nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s: no %q within %v", b.name, key, timeout)
	}
}

// finish waits for a baseline to exit, and kills its group if it does not.
func (h *harness) finish(b *baseline) {
	b.stdin.Close()
	select {
	case <-b.done:
	case <-time.After(h.cfg.wait):
		h.kill(b.proc)
	}
}

// kill SIGKILLs p's process group and waits for p.
func (h *harness) kill(p *proc) {
	if !p.exited() {
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
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

// place writes body to a staging file and renames it to NAME.yaml in the
// spec directory; it returns the time just before the rename.
func (h *harness) place(name, body string) (time.Time, error) {
	tmp := filepath.Join(h.stage, name+".yaml")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		return time.Time{}, err
	}
	t0 := time.Now()
	if err := os.Rename(tmp, filepath.Join(h.dir, name+".yaml")); err != nil {
		return time.Time{}, err
	}
	return t0, nil
}

// remove deletes NAME.yaml and waits until the daemon removed its status file.
func (h *harness) remove(name string) error {
	if err := os.Remove(filepath.Join(h.dir, name+".yaml")); err != nil {
		return err
	}
	st := filepath.Join(h.dir, name+".status.yaml")
	deadline := time.Now().Add(h.cfg.wait)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(st); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s still there %v after deleting the spec", st, h.cfg.wait)
}

// statusReady returns a poll function for waitRunning that is done when the
// bench status file says readyReplicas: n (and records nothing).
func (h *harness) statusReady(n int) func(time.Duration) bool {
	var at time.Duration
	return h.statusReadyAt(n, &at)
}

func (h *harness) statusReadyAt(n int, at *time.Duration) func(time.Duration) bool {
	path := filepath.Join(h.dir, "bench.status.yaml")
	return func(el time.Duration) bool {
		d, replicas, ready := statusHead(path)
		if d == "running" && replicas == n && ready == n {
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
	if err := b.send("start"); err != nil {
		return rr, err
	}
	if rr.running, err = h.obs.waitRunning(b.pid(), h.sleepArgv, h.cfg.n, t0, h.cfg.poll, h.cfg.wait, nil); err != nil {
		return rr, err
	}
	ns, err := b.expect("running_ns", h.cfg.wait)
	if err != nil {
		return rr, err
	}
	rr.selfRun, rr.cpuStart = time.Duration(ns), b.cpu
	time.Sleep(h.cfg.settle)
	pids, err := h.allRunning(b.pid())
	if err != nil {
		return rr, err
	}
	rr.cpuKids = time.Duration(childrenNanos(pids))
	w, err := newDeathWatch(pids)
	if err != nil {
		return rr, err
	}
	defer w.close()
	t1 := time.Now()
	if err := b.send("stop"); err != nil {
		return rr, err
	}
	if rr.stop, err = h.obs.waitStopped(w, b.pid(), t1, h.cfg.poll, h.cfg.wait); err != nil {
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
	dpid := h.daemon.pid()
	cpu0 := runNanos(dpid)
	t0, err := h.place("bench", h.benchSpec(h.cfg.n, "running"))
	if err != nil {
		return rr, err
	}
	if rr.running, err = h.obs.waitRunning(dpid, h.sleepArgv, h.cfg.n, t0, h.cfg.poll, h.cfg.wait, h.statusReadyAt(h.cfg.n, &rr.status)); err != nil {
		return rr, err
	}
	rr.cpuStart = time.Duration(runNanos(dpid).since(cpu0))
	time.Sleep(h.cfg.settle)
	pids, err := h.allRunning(dpid)
	if err != nil {
		return rr, err
	}
	rr.cpuKids = time.Duration(childrenNanos(pids))
	w, err := newDeathWatch(pids)
	if err != nil {
		return rr, err
	}
	defer w.close()
	cpu0 = runNanos(dpid)
	t1, err := h.place("bench", h.benchSpec(h.cfg.n, "stopped"))
	if err != nil {
		return rr, err
	}
	if rr.stop, err = h.obs.waitStopped(w, dpid, t1, h.cfg.poll, h.cfg.wait); err != nil {
		return rr, err
	}
	rr.cpuStop = time.Duration(runNanos(dpid).since(cpu0))
	h.logf("daemon: running %v status %v, stop: dead %v reaped %v", rr.running, rr.status, rr.stop.dead, rr.stop.reaped)
	if err := h.remove("bench"); err != nil {
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
		if pids, err = h.obs.matching(parent, h.sleepArgv); err == nil && len(pids) == h.cfg.n {
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
	targets := []target{{"daemon", h.daemon.pid()}}
	var bases []*baseline
	if !h.cfg.skipKillBaselines {
		for _, kind := range []string{"C", "Go"} {
			b, err := h.startBaseline(kind)
			if err != nil {
				return err
			}
			bases = append(bases, b)
			t0 := time.Now()
			if err := b.send("start"); err != nil {
				return err
			}
			if _, err := h.obs.waitRunning(b.pid(), h.sleepArgv, h.cfg.n, t0, h.cfg.poll, h.cfg.wait, nil); err != nil {
				return fmt.Errorf("%s baseline for b: %w", kind, err)
			}
			if _, err := b.expect("running_ns", h.cfg.wait); err != nil {
				return err
			}
			targets = append(targets, target{kind, b.pid()})
		}
		time.Sleep(h.cfg.settle)
	}
	fmt.Fprintf(os.Stderr, "bench: b: %d SIGKILL replacements per target\n", h.cfg.kills)
	for i := range h.cfg.kills {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			d, victim, err := h.obs.replacement(t.pid, h.sleepArgv, h.rng, h.cfg.finePoll, 10*time.Second)
			if err != nil {
				return fmt.Errorf("b (%s): %w", t.name, err)
			}
			r.replace[t.name] = append(r.replace[t.name], d)
			h.logf("b %s: killed %d, replacement after %v", t.name, victim, d)
			h.obs.waitGone(t.pid, victim, 5*time.Second)
			time.Sleep(50*time.Millisecond + time.Duration(h.rng.IntN(100))*time.Millisecond)
		}
	}
	for _, b := range bases {
		if err := b.send("stop"); err != nil {
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
	dpid := h.daemon.pid()
	arg := func(i int) string { return strconv.Itoa(1001 + i%2) }
	t0, err := h.place("edit", h.programSpec([]string{"sleep", arg(0)}, 1, "running"))
	if err != nil {
		return err
	}
	if _, err := h.obs.waitRunning(dpid, cmdline("sleep", arg(0)), 1, t0, h.cfg.poll, h.cfg.wait, nil); err != nil {
		return fmt.Errorf("c: first edit program: %w", err)
	}
	time.Sleep(h.cfg.settle)
	for i := 1; i <= h.cfg.edits; i++ {
		want := cmdline("sleep", arg(i))
		kids, err := h.obs.children(dpid)
		if err != nil {
			return err
		}
		prior := make(map[int]bool, len(kids))
		for _, k := range kids {
			prior[k] = true
		}
		t0, err := h.place("edit", h.programSpec([]string{"sleep", arg(i)}, 1, "running"))
		if err != nil {
			return err
		}
		d, err := h.obs.waitNewChild(dpid, want, prior, t0, h.cfg.finePoll, 10*time.Second)
		if err != nil {
			return fmt.Errorf("c: edit %d: %w", i, err)
		}
		r.edit = append(r.edit, d)
		h.logf("c: edit %d: new process after %v", i, d)
		// Let the old one go before the next edit.
		old := cmdline("sleep", arg(i+1))
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if m, _ := h.obs.matching(dpid, old); len(m) == 0 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(100*time.Millisecond + time.Duration(h.rng.IntN(100))*time.Millisecond)
	}
	if err := h.remove("edit"); err != nil {
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
		cmd.Env = h.env()
		cmd.Stdout, cmd.Stderr = &out, io.Discard
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		return d, bytes.Count(out.Bytes(), []byte("\n")), err
	}
	for range h.cfg.statusRuns {
		d, _, _ := run(h.empty) // no daemon there: exits 0 with a note
		r.statusEmpty = append(r.statusEmpty, d)
		d, lines, err := run(h.dir)
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
	dpid := h.daemon.pid()
	fmt.Fprintf(os.Stderr, "bench: e: %v idle with %d running\n", h.cfg.idle, h.cfg.n)
	time.Sleep(2 * time.Second) // let coalesced status writes land
	t0, err := cpuTicks(dpid)
	if err != nil {
		return err
	}
	n0, start := runNanos(dpid), time.Now()
	time.Sleep(h.cfg.idle)
	t1, err := cpuTicks(dpid)
	if err != nil {
		return err
	}
	r.idleTicks, r.idleNanos, r.idleDur = t1-t0, runNanos(dpid).since(n0), time.Since(start)
	r.rssKiB, r.hwmKiB, _ = memKiB(dpid)
	r.threadsIdle = threads(dpid)
	return nil
}

// ---- d, by SIGTERM to the daemon ----

func (h *harness) shutdownRun(r *results) {
	dpid := h.daemon.pid()
	pids, err := h.obs.matching(dpid, h.sleepArgv)
	if err != nil {
		r.shutdownErr = err
		return
	}
	r.replicasRunningAtEnd = len(pids)
	w, err := newDeathWatch(pids)
	if err != nil {
		r.shutdownErr = err
		return
	}
	defer w.close()
	fmt.Fprintln(os.Stderr, "bench: d: SIGTERM to the daemon")
	t0 := time.Now()
	if err := h.daemon.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		r.shutdownErr = err
		return
	}
	st, err := h.obs.waitStopped(w, 0, t0, h.cfg.poll, h.cfg.wait)
	r.shutdownDead = st.dead
	if err != nil {
		r.shutdownErr = err
		return
	}
	select {
	case <-h.daemon.done:
		r.shutdownExit = time.Since(t0)
		if h.daemon.err != nil {
			r.shutdownErr = fmt.Errorf("daemon exit: %w", h.daemon.err)
		}
	case <-time.After(h.cfg.wait):
		r.shutdownErr = errors.New("daemon did not exit")
	}
}

// ---- cleanup ----

// cleanup stops everything the harness started and returns how many
// processes carrying the token it had to kill at the end. It is idempotent.
func (h *harness) cleanup() int {
	h.mu.Lock()
	if h.cleaned {
		h.mu.Unlock()
		return 0
	}
	h.cleaned = true
	procs := append([]*proc(nil), h.procs...)
	d := h.daemon
	h.mu.Unlock()
	for _, p := range procs {
		if p != d {
			h.kill(p)
		}
	}
	if d != nil && !d.exited() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(30 * time.Second):
		}
		h.kill(d)
	}
	leaked := sweep(h.cfg.token)
	if leaked > 0 {
		time.Sleep(100 * time.Millisecond)
		sweep(h.cfg.token)
	}
	if h.cfg.workDir == "" && !h.cfg.keep && h.work != "" {
		os.RemoveAll(h.work)
	}
	return leaked
}

// sweep SIGKILLs every process whose environment carries the token.
func sweep(token string) int {
	want := []byte(tokenEnv + "=" + token)
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if bytes.Equal(kv, want) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					n++
				}
				break
			}
		}
	}
	return n
}

// ---- the report ----

func (h *harness) report(r *results) {
	cfg := h.cfg
	N := cfg.n
	fmt.Printf("\nreconciled benchmark: N=%d sleep instances, %d rounds (C D Go D ...), %d kills, %d edits, %d status runs, idle %v\n",
		N, cfg.rounds, cfg.kills, cfg.edits, cfg.statusRuns, r.idleDur.Round(time.Second))
	fmt.Printf("baselines: C posix_spawn from %d threads, Go syscall.ForkExec from %d goroutines (setpgid: %v); spec stdout/stderr: %s\n",
		cfg.cThreads, cfg.goWorkers, cfg.setpgid, orDefault(cfg.output, "auto (default)"))
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
			pair = fmt.Sprintf("%.2fx / %.2fx", medianFloat(pairs["C"]), medianFloat(pairs["Go"]))
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
	if r.shutdownErr == nil {
		okS := ratio(r.shutdownExit, best(r.reaped)) <= 1.5
		row("d\" SIGTERM daemon: daemon exited", samples{r.shutdownExit}, r.reaped, nil, "<=1.5x best", &okS)
		row("   SIGTERM daemon: all exited", samples{r.shutdownDead}, r.dead, nil, "report", nil)
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
