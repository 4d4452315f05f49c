// Command hookstorm (hack/bench/hookstorm) measures whether event hooks slow
// a crash loop down: the requirement "a hook storm (a program crash-looping
// with restartDelay: 0 for 5 s) keeps at most 4 hooks running and the loop's
// restart latency unchanged". hookstorm.sh builds the daemon and this harness
// and runs it.
//
// One daemon runs throughout. Each round places the program `storm`
// (`sh -c 'exit 1'`, restartDelay 0, startSeconds 0, no start limit) twice,
// once plain and once with a hook on every Exited event that sleeps 8.5 s
// (longer than a window; timeout 1m), in alternating order; for each it waits for the loop to run,
// then counts the restarts in the status file over -window and samples the
// hook processes every 20 ms. The figure is the mean restart cycle (window /
// restarts, exit to the next exit: the daemon's reap, decision and start
// plus sh's own run) of each, and their ratio. Between the two the manifest
// is deleted and its status awaited gone.
//
// Everything it starts carries RECONCILED_BENCH_TOKEN=<token>; at the end, on
// failure and on SIGINT/SIGTERM it stops the daemon and SIGKILLs whatever
// still carries the token.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
	"github.com/reconciled/reconciled/status"
)

type config struct {
	bin           string
	rounds        int
	window        time.Duration
	wait, timeout time.Duration
	token         string
	keep, verbose bool
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.bin, "bin", "", "the reconciled binary (required)")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds (each runs both variants)")
	flag.DurationVar(&c.window, "window", 5*time.Second, "how long each variant's restarts are counted")
	flag.DurationVar(&c.wait, "wait", time.Minute, "bound of any single wait")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound of the whole benchmark")
	flag.StringVar(&c.token, "token", "", "marker put in the environment of everything started (default: random)")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch directory (daemon log, status and event files)")
	flag.BoolVar(&c.verbose, "v", false, "print every sample")
	flag.Parse()
	if c.bin == "" || c.rounds <= 0 || c.window <= 0 {
		fmt.Fprintln(os.Stderr, "usage: hookstorm -bin RECONCILED [-rounds 5] [-window 5s]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	return c
}

const base = "spec:\n  command: [sh, -c, \"exit 1\"]\n  restartDelay: 0s\n  startSeconds: 0s\n  startRetries: 0\n  flapping: {restarts: 0}\n  stdout: null\n  stderr: null\n"

// hookArgv is the hook's command: a sleep no instance runs, so that the
// hook processes can be told apart, and longer than a window, so that the
// hooks are busy throughout it. A deleted program's hooks run on to their
// end: measure waits for them to be gone before it starts.
var hookArgv = []string{"sleep", "8.5"}

const hooked = base + "  hooks: [{events: [Exited], exec: {command: [sleep, \"8.5\"]}, timeout: 1m}]\n"

// sample is one variant's count over one window.
type sample struct {
	cycle    time.Duration // window / restarts
	restarts int
	hooks    int // most hook processes seen at once
}

func main() {
	cfg := parseFlags()
	procs := benchkit.NewProcs(cfg.token)
	var ws *benchkit.Workspace
	cleanup := func() { procs.Cleanup(ws) }
	stop := benchkit.Guard("hookstorm", cfg.timeout, cleanup, os.Exit)
	plain, withHooks, err := run(cfg, procs, &ws)
	stop()
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "hookstorm: FAILED:", err)
		os.Exit(1)
	}
	report(cfg, plain, withHooks)
}

func run(cfg config, procs *benchkit.Procs, wsp **benchkit.Workspace) (plain, withHooks []sample, err error) {
	ws, err := benchkit.NewWorkspace("", "rcd-hookstorm-", cfg.keep, cfg.wait)
	if err != nil {
		return nil, nil, err
	}
	*wsp = ws
	if _, err := procs.StartDaemon(cfg.bin, ws.Specs, ws.Log, "--resync", "0"); err != nil {
		return nil, nil, err
	}
	for round := range cfg.rounds {
		order := []bool{false, true}
		if round%2 == 1 {
			order = []bool{true, false}
		}
		for _, h := range order {
			body := base
			if h {
				body = hooked
			}
			s, err := measure(cfg, ws, body)
			if err != nil {
				return nil, nil, err
			}
			if cfg.verbose {
				fmt.Fprintf(os.Stderr, "hookstorm: round %d hooks=%v: %d restarts, cycle %v, at most %d hooks\n", round, h, s.restarts, s.cycle, s.hooks)
			}
			if h {
				withHooks = append(withHooks, s)
			} else {
				plain = append(plain, s)
			}
		}
	}
	return plain, withHooks, nil
}

// measure places storm.yaml with body, lets the loop run, counts its
// restarts over the window, and removes it again.
func measure(cfg config, ws *benchkit.Workspace, body string) (sample, error) {
	var s sample
	deadline := time.Now().Add(cfg.wait)
	for countCmdline(cfg.token, hookArgv) > 0 {
		if time.Now().After(deadline) {
			return s, fmt.Errorf("hooks of the last round still running after %v", cfg.wait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := ws.Place("storm", body); err != nil {
		return s, err
	}
	path := ws.StatusPath("storm")
	r0, err := waitRestarts(path, 3, cfg.wait)
	if err != nil {
		return s, err
	}
	t0 := time.Now()
	for time.Since(t0) < cfg.window {
		s.hooks = max(s.hooks, countCmdline(cfg.token, hookArgv))
		time.Sleep(20 * time.Millisecond)
	}
	r1, err := waitRestarts(path, 0, cfg.wait)
	elapsed := time.Since(t0)
	if err != nil {
		return s, err
	}
	s.restarts = r1 - r0
	if s.restarts > 0 {
		s.cycle = elapsed / time.Duration(s.restarts)
	}
	return s, ws.Remove("storm")
}

// waitRestarts waits until the status file says instance 0 has restarted
// at least atLeast times and returns the count.
func waitRestarts(path string, atLeast int, wait time.Duration) (int, error) {
	deadline := time.Now().Add(wait)
	for {
		if st, err := status.ReadFile(path); err == nil {
			for _, in := range st.Status.Instances {
				if in.Index == 0 && in.Restarts >= atLeast {
					return in.Restarts, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: not %d restarts after %v", path, atLeast, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// countCmdline counts the live processes carrying the token whose argv is
// argv.
func countCmdline(token string, argv []string) int {
	want := []byte(benchkit.Cmdline(argv...))
	mark := []byte(benchkit.TokenEnv + "=" + token + "\x00")
	ents, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Equal(cmd, want) {
			continue
		}
		if env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ")); err == nil && bytes.Contains(env, mark) {
			n++
		}
	}
	return n
}

func report(cfg config, plain, withHooks []sample) {
	cycles := func(ss []sample) []float64 {
		v := make([]float64, len(ss))
		for i, s := range ss {
			v[i] = float64(s.cycle) / 1e6
		}
		return v
	}
	most := 0
	for _, s := range withHooks {
		most = max(most, s.hooks)
	}
	p, h := cycles(plain), cycles(withHooks)
	ratios := make([]float64, len(p))
	for i := range p {
		ratios[i] = h[i] / p[i]
	}
	fmt.Printf("crash loop (sh -c 'exit 1', restartDelay 0), %d rounds of %v per variant; mean restart cycle, median (range)\n\n", cfg.rounds, cfg.window)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "variant\tcycle (ms)\trestarts per window\thooks at once (most)")
	fmt.Fprintf(tw, "plain\t%.2f (%s)\t%d\t-\n", benchkit.Median(p), benchkit.Span(p, 2), plain[len(plain)/2].restarts)
	fmt.Fprintf(tw, "an 8.5 s hook on every exit\t%.2f (%s)\t%d\t%d\n", benchkit.Median(h), benchkit.Span(h, 2), withHooks[len(withHooks)/2].restarts, most)
	tw.Flush()
	fmt.Printf("\nhooked / plain, paired by round: median %.2fx (%s)\n", benchkit.Median(ratios), benchkit.Span(ratios, 2))
}
