// Command probes (hack/bench/probes) benchmarks a built reconciled binary
// against the requirement "N instances each with a tcpSocket readiness probe
// at period: 1s against a local listener: the daemon's CPU stays under 5% of
// one core, and a probe's timeout never delays another instance's probes or
// restarts". probes.sh builds the daemon and this harness and runs it.
//
// The same binary runs in three modes. Without -mode it is the harness; it
// re-executes itself with -mode listener (the listeners the probes connect
// to) and -mode floor (a minimal Go loop making the same connections), so
// that neither accepting nor the floor's connects are counted in the daemon's
// CPU or the harness's.
//
// In order, with one daemon (`reconciled run --dir WORK/specs`):
//
//	A  bench.yaml: N × `sleep 100000` with a tcpSocket probe (period 1s) to
//	   the fast listener; time until bench.status.yaml says readyReplicas: N;
//	   3 s of settling; then a window: the daemon's CPU (utime+stime and
//	   schedstat) and the connections the listener accepted (probes/s)
//	K  SIGKILL of a random bench instance (restartDelay: 0s) until a new
//	   child of the daemon runs `sleep 100000`, -kills times: the usual time
//	S  slow.yaml: 50 × `sleep 100001` whose httpGet probe goes to a listener
//	   that accepts and never answers (timeout 1s, period 1s); a window as in
//	   A, with -kills kills spread over it: bench's probes/s and the
//	   replacement time while the slow probes time out
//	B  slow.yaml deleted; bench.yaml without the probe (a rolling update
//	   replaces all N); once it is done and the daemon is quiet, a window:
//	   the daemon's CPU with the same N and no probes
//	F  the floor child connects N times a second, in 10 batches a second on
//	   the daemon's 100 ms grid, to the same listener; a window on its CPU
//
// Windows start 50 ms into a 100 ms slot of the daemon's probe grid and are
// cut into one-second buckets at the same offset, so every bucket holds ten
// whole slots: N probes when every worker is on schedule.
//
// Everything it starts carries RECONCILED_BENCH_TOKEN=<token> in its
// environment; at the end, on failure and on SIGINT/SIGTERM it stops the
// daemon (SIGTERM, then SIGKILL to its process group), kills its other
// children, and SIGKILLs whatever still carries the token.
package main

import (
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// grid is the daemon's probe grid at period 1s (see health.Run).
const grid = 100 * time.Millisecond

type config struct {
	mode          string
	bin           string
	n             int
	window        time.Duration
	settle        time.Duration
	kills         int
	slowReplicas  int
	batches, port int
	finePoll      time.Duration
	wait, timeout time.Duration
	workDir       string
	token         string
	keep, verbose bool
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.mode, "mode", "", "internal: listener or floor (the harness's own children)")
	flag.StringVar(&c.bin, "bin", "", "the reconciled binary (required)")
	flag.IntVar(&c.n, "n", 1000, "bench instances, each probed once a second; for -mode floor, connects a second")
	flag.DurationVar(&c.window, "window", 60*time.Second, "length of each measuring window (whole seconds)")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "quiet time before each window")
	flag.IntVar(&c.kills, "kills", 10, "SIGKILL replacements measured without and with the slow program")
	flag.IntVar(&c.slowReplicas, "slow", 50, "instances of the slow program (httpGet probe that times out)")
	flag.IntVar(&c.batches, "batches", 10, "batches a second of the floor (the daemon's grid: 10)")
	flag.IntVar(&c.port, "port", 0, "for -mode floor: the port to connect to")
	flag.DurationVar(&c.finePoll, "fine-poll", 100*time.Microsecond, "poll interval of /proc while waiting for a replacement")
	flag.DurationVar(&c.wait, "wait", 2*time.Minute, "bound of any single wait")
	flag.DurationVar(&c.timeout, "timeout", 15*time.Minute, "bound of the whole benchmark")
	flag.StringVar(&c.workDir, "workdir", "", "scratch directory (default: a new one under $TMPDIR, removed at the end)")
	flag.StringVar(&c.token, "token", "", "marker put in the environment of everything started (default: random)")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch directory (daemon log, status and event files)")
	flag.BoolVar(&c.verbose, "v", false, "print progress details and every sample")
	flag.Parse()
	switch {
	case c.mode == "listener":
	case c.mode == "floor" && c.port > 0 && c.n > 0 && c.batches > 0:
	case c.mode == "" && c.bin != "" && c.n > 0 && c.window >= time.Second && c.slowReplicas > 0:
	default:
		fmt.Fprintln(os.Stderr, "usage: probes -bin RECONCILED [-n 1000] [-window 60s] [-kills 10] ...")
		flag.PrintDefaults()
		os.Exit(2)
	}
	return c
}

func main() {
	cfg := parseFlags()
	switch cfg.mode {
	case "listener":
		if err := runListener(); err != nil {
			fmt.Fprintln(os.Stderr, "listener:", err)
			os.Exit(1)
		}
		return
	case "floor":
		if err := runFloor(cfg.port, cfg.n, cfg.batches); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}
	h := &harness{cfg: cfg, obs: benchkit.NewObserver(), rng: mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 2)),
		procs: benchkit.NewProcs(cfg.token), benchArgv: benchkit.Cmdline("sleep", "100000"), slowArgv: benchkit.Cmdline("sleep", "100001")}
	stop := benchkit.Guard("probes", cfg.timeout, func() { h.cleanup() }, os.Exit)
	r := &results{}
	err := h.run(r)
	stop()
	if err == nil {
		h.report(r)
	}
	if leaked := h.cleanup(); leaked > 0 {
		fmt.Fprintf(os.Stderr, "probes: %d processes were still alive at the end and were killed\n", leaked)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probes: FAILED:", err)
		fmt.Fprintln(os.Stderr, "probes: daemon log:", h.dlog)
		os.Exit(1)
	}
}

type harness struct {
	cfg                 config
	obs                 *benchkit.Observer
	rng                 *mrand.Rand
	procs               *benchkit.Procs
	ws                  *benchkit.Workspace
	dlog                string
	benchArgv, slowArgv string
	fastPort, slowPort  int
	daemon, listener    *benchkit.Proc
}

func (h *harness) logf(format string, args ...any) {
	if h.cfg.verbose {
		fmt.Fprintf(os.Stderr, "probes: "+format+"\n", args...)
	}
}

func (h *harness) say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "probes: "+format+"\n", args...)
}

// window is what one measuring window yields.
type window struct {
	dur        time.Duration
	cpu        benchkit.CPUUse // of the measured process, over dur
	fast, slow int64           // connections accepted by each listener over dur
	perSec     []int64         // fast accepts in each one-second bucket
	kills      durations
}

func (w window) cpuPct() float64   { return float64(w.cpu.NS) / float64(w.dur) * 100 }
func (w window) ticksPct() float64 { return float64(w.cpu.Ticks) * 1e7 / float64(w.dur) * 100 }
func (w window) rate() float64     { return float64(w.fast) / w.dur.Seconds() }
func (w window) slowRate() float64 { return float64(w.slow) / w.dur.Seconds() }

func (w window) perSecRange() (lo, hi int64) {
	for i, v := range w.perSec {
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

// results collects every figure.
type results struct {
	readyIn     time.Duration // A: bench.yaml placed -> readyReplicas: N
	rolledIn    time.Duration // B: spec without probe placed -> all N replaced and ready
	quietIn     time.Duration // B: then until the daemon was quiet
	quietOK     bool
	probes      window // A
	killsAlone  durations
	slow        window // S
	slowRunning int
	noProbe     window // B
	floor       window // F
}

func (h *harness) run(r *results) error {
	cfg := h.cfg
	ws, err := benchkit.NewWorkspace(cfg.workDir, "rcd-probes-", cfg.keep, cfg.wait)
	if err != nil {
		return err
	}
	h.ws, h.dlog = ws, ws.Log
	h.say("N=%d window=%v settle=%v kills=%d slow=%d, work dir %s", cfg.n, cfg.window, cfg.settle, cfg.kills, cfg.slowReplicas, ws.Root)
	if err := h.startListener(); err != nil {
		return err
	}
	if h.daemon, err = h.procs.StartDaemon(cfg.bin, ws.Specs, ws.Log); err != nil {
		return err
	}
	dpid := h.daemon.Pid()

	// A: N probed instances.
	h.say("A: %d instances with a tcpSocket probe to 127.0.0.1:%d", cfg.n, h.fastPort)
	t0, err := h.ws.Place("bench", h.benchSpec(true))
	if err != nil {
		return err
	}
	if r.readyIn, err = h.waitStatus("bench", t0, func(s benchkit.StatusHead) bool { return s.Replicas == cfg.n && s.Ready == cfg.n }); err != nil {
		return fmt.Errorf("A: start %d probed instances: %w", cfg.n, err)
	}
	h.say("A: readyReplicas: %d after %v; measuring %v", cfg.n, r.readyIn.Round(time.Millisecond), cfg.window)
	if r.probes, err = h.measure(dpid, 0); err != nil {
		return fmt.Errorf("A: %w", err)
	}

	// K: replacements without the slow program.
	h.say("K: %d SIGKILLs of bench instances", cfg.kills)
	for i := range cfg.kills {
		d, _, err := h.obs.Replacement(dpid, h.benchArgv, h.rng, cfg.finePoll, cfg.wait)
		if err != nil {
			return fmt.Errorf("K: kill %d: %w", i+1, err)
		}
		r.killsAlone = append(r.killsAlone, d)
		time.Sleep(300 * time.Millisecond) // spacing, so the kills do not overlap
	}
	if _, err := h.waitStatus("bench", time.Now(), func(s benchkit.StatusHead) bool { return s.Ready == cfg.n }); err != nil {
		return fmt.Errorf("K: ready again: %w", err)
	}

	// S: the same with instances whose probes time out.
	h.say("S: %d instances with an httpGet probe to the silent listener 127.0.0.1:%d", cfg.slowReplicas, h.slowPort)
	_, s0, err := h.count()
	if err != nil {
		return err
	}
	if _, err := h.ws.Place("slow", h.slowSpec()); err != nil {
		return err
	}
	// Two rounds of slow probes accepted: they are timing out on schedule.
	if err := h.waitCount(func(_, slow int64) bool { return slow >= s0+2*int64(cfg.slowReplicas) }); err != nil {
		return fmt.Errorf("S: slow probes: %w", err)
	}
	h.say("S: slow probes arriving; measuring %v with %d kills", cfg.window, cfg.kills)
	if r.slow, err = h.measure(dpid, cfg.kills); err != nil {
		return fmt.Errorf("S: %w", err)
	}
	slowPids, err := h.obs.Matching(dpid, h.slowArgv)
	if err != nil {
		return err
	}
	r.slowRunning = len(slowPids)
	if err := h.ws.Remove("slow"); err != nil {
		return fmt.Errorf("S: %w", err)
	}

	// B: the same N without probes.
	h.say("B: rolling update of bench to the spec without probe")
	prev, _ := benchkit.ReadStatusHead(h.ws.StatusPath("bench"))
	if t0, err = h.ws.Place("bench", h.benchSpec(false)); err != nil {
		return err
	}
	if r.rolledIn, err = h.waitStatus("bench", t0, func(s benchkit.StatusHead) bool {
		return s.SpecHash != prev.SpecHash && s.Replicas == cfg.n && s.Updated == cfg.n && s.Ready == cfg.n
	}); err != nil {
		return fmt.Errorf("B: roll out the spec without probe: %w", err)
	}
	if err := h.waitNoProbes(); err != nil {
		return fmt.Errorf("B: %w", err)
	}
	t1 := time.Now()
	r.quietOK = h.waitQuiet(dpid)
	r.quietIn = time.Since(t1)
	h.say("B: all %d replaced after %v, quiet after %v more; measuring %v", cfg.n, r.rolledIn.Round(time.Millisecond), r.quietIn.Round(time.Millisecond), cfg.window)
	if r.noProbe, err = h.measure(dpid, 0); err != nil {
		return fmt.Errorf("B: %w", err)
	}

	// F: the floor.
	h.say("F: floor: %d connects a second in %d batches", cfg.n, cfg.batches)
	floor, err := h.startChild("floor", "-mode", "floor", "-port", strconv.Itoa(h.fastPort), "-n", strconv.Itoa(cfg.n), "-batches", strconv.Itoa(cfg.batches))
	if err != nil {
		return err
	}
	defer floor.Kill()
	if _, err := floor.Expect("ready", 10*time.Second); err != nil {
		return err
	}
	if r.floor, err = h.measure(floor.Pid(), 0); err != nil {
		return fmt.Errorf("F: %w", err)
	}
	return nil
}

// measure waits cfg.settle, then measures pid's CPU and the listeners'
// accepts over cfg.window, in one-second buckets aligned to the probe grid
// (see the package documentation). With kills > 0 it SIGKILLs that many bench
// instances spread over the window, each 300 ms into a bucket, and times
// their replacements.
func (h *harness) measure(pid, kills int) (window, error) {
	var w window
	secs := int(h.cfg.window / time.Second)
	start := time.Now().Add(h.cfg.settle).Truncate(grid).Add(grid + grid/2)
	time.Sleep(time.Until(start)) // the settling time
	killAt := make(map[int]bool, kills)
	for i := 1; i <= kills; i++ {
		killAt[i*secs/(kills+1)] = true
	}
	f0, s0, err := h.count()
	if err != nil {
		return w, err
	}
	c0, err := benchkit.ReadCPU(pid)
	if err != nil {
		return w, err
	}
	t0 := time.Now()
	last, slow := f0, s0
	for i := range secs {
		bucket := start.Add(time.Duration(i) * time.Second)
		if killAt[i] {
			time.Sleep(time.Until(bucket.Add(300 * time.Millisecond)))
			d, _, err := h.obs.Replacement(h.daemon.Pid(), h.benchArgv, h.rng, h.cfg.finePoll, h.cfg.wait)
			if err != nil {
				return w, fmt.Errorf("kill in second %d: %w", i, err)
			}
			w.kills = append(w.kills, d)
		}
		time.Sleep(time.Until(bucket.Add(time.Second))) // the window itself
		var f int64
		if f, slow, err = h.count(); err != nil {
			return w, err
		}
		w.perSec = append(w.perSec, f-last)
		last = f
	}
	c1, err := benchkit.ReadCPU(pid)
	if err != nil {
		return w, err
	}
	w.dur = time.Since(t0)
	w.cpu = c1.Since(c0)
	w.fast, w.slow = last-f0, slow-s0
	h.logf("window: %v, cpu %.2f%% (ticks %.2f%%), %d fast (%.1f/s), %d slow, per second %v, kills %v",
		w.dur.Round(time.Millisecond), w.cpuPct(), w.ticksPct(), w.fast, w.rate(), w.slow, w.perSec, w.kills)
	return w, nil
}

// ---- the processes ----

// startChild re-executes this binary with args (see child.go).
func (h *harness) startChild(name string, args ...string) (*benchkit.Proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return h.procs.StartPiped(name, exec.Command(self, args...))
}

func (h *harness) startListener() error {
	p, err := h.startChild("listener", "-mode", "listener")
	if err != nil {
		return err
	}
	h.listener = p
	f, err := p.Expect("ports", 10*time.Second)
	if err != nil {
		return err
	}
	if len(f) != 2 {
		return fmt.Errorf("listener: bad ports line %q", f)
	}
	h.fastPort, _ = strconv.Atoi(f[0])
	h.slowPort, _ = strconv.Atoi(f[1])
	return nil
}

// count asks the listener how many connections each listener has accepted.
func (h *harness) count() (fast, slow int64, err error) {
	if err := h.listener.Send("count"); err != nil {
		return 0, 0, fmt.Errorf("listener: %w", err)
	}
	f, err := h.listener.Expect("count", 5*time.Second)
	if err != nil {
		return 0, 0, err
	}
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("listener: bad count line %q", f)
	}
	fast, err1 := strconv.ParseInt(f[0], 10, 64)
	slow, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("listener: bad count line %q", f)
	}
	return fast, slow, nil
}

// waitCount polls the listener's counts until done says so.
func (h *harness) waitCount(done func(fast, slow int64) bool) error {
	deadline := time.Now().Add(h.cfg.wait)
	for {
		f, s, err := h.count()
		if err != nil {
			return err
		}
		if done(f, s) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("listener counts %d, %d: not there after %v", f, s, h.cfg.wait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitNoProbes waits until the fast listener has accepted nothing for 2 s:
// no probe worker is left.
func (h *harness) waitNoProbes() error {
	deadline := time.Now().Add(h.cfg.wait)
	last, since := int64(-1), time.Now()
	for {
		f, _, err := h.count()
		if err != nil {
			return err
		}
		if f != last {
			last, since = f, time.Now()
		} else if time.Since(since) >= 2*time.Second {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("probes still arriving %v after the spec without probe", h.cfg.wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitQuiet waits, up to 30 s, until the daemon used less than 1% of a core
// over half a second (the rollout's status writes and garbage collection are
// done). It reports whether it got there.
func (h *harness) waitQuiet(pid int) bool {
	deadline := time.Now().Add(30 * time.Second)
	prev, err := benchkit.ReadCPU(pid)
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond) // the sampling interval
		var cur benchkit.CPUReading
		if cur, err = benchkit.ReadCPU(pid); err == nil && cur.Since(prev).NS < int64(5*time.Millisecond) {
			return true
		}
		prev = cur
	}
	h.say("warning: the daemon was not quiet after 30 s; measuring anyway")
	return false
}

// ---- the spec and status files ----

func (h *harness) benchSpec(probe bool) string {
	s := fmt.Sprintf(`spec:
  command: [sleep, "100000"]
  replicas: %d
  startSeconds: 0s
  restartDelay: 0s
  stdout: "null"
  stderr: "null"
`, h.cfg.n)
	if probe {
		s += fmt.Sprintf("  readinessProbe: {tcpSocket: {port: %d}, period: 1s}\n", h.fastPort)
	}
	return s
}

func (h *harness) slowSpec() string {
	return fmt.Sprintf(`spec:
  command: [sleep, "100001"]
  replicas: %d
  startSeconds: 0s
  stdout: "null"
  stderr: "null"
  readinessProbe: {httpGet: {port: %d, path: /}, period: 1s, timeout: 1s}
`, h.cfg.slowReplicas, h.slowPort)
}

// waitStatus polls NAME.status.yaml until done says so and returns the time
// since t0.
func (h *harness) waitStatus(name string, t0 time.Time, done func(benchkit.StatusHead) bool) (time.Duration, error) {
	path := h.ws.StatusPath(name)
	deadline := t0.Add(h.cfg.wait)
	for {
		s, ok := benchkit.ReadStatusHead(path)
		if ok && done(s) {
			return time.Since(t0), nil
		}
		if h.daemon.Exited() {
			return 0, fmt.Errorf("daemon exited (%v)", h.daemon.Err())
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s after %v: replicas %d, ready %d, updated %d", path, h.cfg.wait, s.Replicas, s.Ready, s.Updated)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	fmt.Printf("\nreconciled probe benchmark: N=%d instances, tcpSocket readiness probe at period 1s to a local listener; windows of %v after %v of settling\n",
		N, r.probes.dur.Round(time.Second), cfg.settle)
	fmt.Printf("start: bench.yaml placed -> readyReplicas: %d in %v; rolling update to the spec without probe: %v (then quiet in %v%s)\n",
		N, fmtDur(r.readyIn), fmtDur(r.rolledIn), fmtDur(r.quietIn), map[bool]string{true: "", false: ", NOT quiet"}[r.quietOK])
	fmt.Printf("CPU = the process's own on-CPU time over the window (schedstat per thread, ns; utime+stime ticks beside it), %% of one core; probes/s = connections the listener accepted\n\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "configuration\tCPU%\t(ticks)\tprobes/s\tCPU-s/1000 probes\tvs floor\ttarget\tverdict")
	floorPer := perThousand(r.floor.cpu.NS, r.floor.fast)
	row := func(name string, pct, ticks float64, rate float64, per float64, target, verdict string) {
		vs, perS, rateS, ticksS := "-", "-", "-", "-"
		if per > 0 {
			perS = fmt.Sprintf("%.4f", per)
			if floorPer > 0 {
				vs = fmt.Sprintf("%.2fx", per/floorPer)
			}
		}
		if rate >= 0 {
			rateS = fmt.Sprintf("%.1f", rate)
		}
		if ticks >= 0 {
			ticksS = fmt.Sprintf("%.2f%%", ticks)
		}
		fmt.Fprintf(tw, "%s\t%.2f%%\t%s\t%s\t%s\t%s\t%s\t%s\n", name, pct, ticksS, rateS, perS, vs, target, verdict)
	}
	a, b, s, f := r.probes, r.noProbe, r.slow, r.floor
	okA := a.cpuPct() < 5 && a.rate() >= 0.98*float64(N)
	row(fmt.Sprintf("A  daemon: %d tcpSocket probes at 1s", N), a.cpuPct(), a.ticksPct(), a.rate(), perThousand(a.cpu.NS, a.fast), "<5%, >=0.98N/s", verdict(okA))
	row(fmt.Sprintf("B  daemon: same %d, no probe (baseline)", N), b.cpuPct(), b.ticksPct(), b.rate(), 0, "report", "")
	share := window{dur: a.dur, cpu: benchkit.CPUUse{NS: a.cpu.NS - b.cpu.NS*int64(a.dur)/int64(b.dur)}, fast: a.fast}
	row("A-B  the probes' share of the daemon", share.cpuPct(), -1, share.rate(), perThousand(share.cpu.NS, share.fast), "report", "")
	row(fmt.Sprintf("F  floor: %d connects/s, %d batches/s (own process)", N, cfg.batches), f.cpuPct(), f.ticksPct(), f.rate(), floorPer, "report", "")
	row(fmt.Sprintf("S  daemon: A + %d httpGet probes timing out", cfg.slowReplicas), s.cpuPct(), s.ticksPct(), s.rate(), 0, "report", "")
	tw.Flush()

	fmt.Printf("\ntimeout isolation: %d instances (%d running at the end of S) whose httpGet probe goes to a listener that never answers (timeout 1s, period 1s)\n",
		cfg.slowReplicas, r.slowRunning)
	loA, hiA := a.perSecRange()
	loS, hiS := s.perSecRange()
	okRate := s.rate() >= 0.98*float64(N) && s.rate() >= 0.98*a.rate()
	fmt.Printf("  bench probes/s   without slow %.1f (per second %d..%d), with slow %.1f (per second %d..%d): %.3fx  target >=0.98N/s and >=0.98x  %s\n",
		a.rate(), loA, hiA, s.rate(), loS, hiS, s.rate()/a.rate(), verdict(okRate))
	fmt.Printf("  slow probes/s    %.1f accepted by the silent listener (expected about %d)\n", s.slowRate(), cfg.slowReplicas)
	if len(s.kills) > 0 {
		okK := s.kills.quantile(0.5) < 10*time.Millisecond
		fmt.Printf("  SIGKILL -> replacement running: without slow median %s p90 %s max %s (%d); with slow median %s p90 %s max %s (%d)  target median <10ms  %s\n",
			fmtDur(r.killsAlone.quantile(0.5)), fmtDur(r.killsAlone.quantile(0.9)), fmtDur(r.killsAlone.quantile(1)), len(r.killsAlone),
			fmtDur(s.kills.quantile(0.5)), fmtDur(s.kills.quantile(0.9)), fmtDur(s.kills.quantile(1)), len(s.kills), verdict(okK))
	}
	if cfg.verbose {
		fmt.Println("\nsamples:")
		fmt.Printf("  A per second: %v\n  S per second: %v\n  F per second: %v\n", a.perSec, s.perSec, f.perSec)
		fmt.Printf("  kills without slow: %v\n  kills with slow:    %v\n", r.killsAlone, s.kills)
	}
}

// perThousand returns CPU-seconds per 1000 connections.
func perThousand(ns, conns int64) float64 {
	if conns <= 0 || ns <= 0 {
		return 0
	}
	return float64(ns) / 1e9 / (float64(conns) / 1000)
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
