// Command scrape (hack/bench/scrape) measures what a Prometheus scrape of
// `reconciled run --http` costs the daemon, against the requirement "a
// scrape of 1000 instances takes under 20 ms of daemon CPU". scrape.sh
// builds the daemon and this harness and runs it.
//
// For each case it starts a daemon (`reconciled run --dir WORK/specs --http
// 127.0.0.1:PORT [--cgroup-root none]`), places the programs, waits until
// every instance is ready and the daemon is quiet, measures the daemon's
// idle CPU over -idle, then runs -rounds rounds, 11 s apart (the daemon
// reads usage again once its figures are 10 s old). A round scrapes
// /metrics once with gzip accepted, as Prometheus does, and measures the
// daemon's CPU over that scrape and the -read-window after it: the scrape
// and the read of every instance's CPU and memory it sets off (in the
// background; a daemon that reads usage during the scrape is measured the
// same way). Then -scrapes scrapes with gzip and -scrapes without, back to
// back, whose figures are already read: the cost of a scrape itself. CPU
// is the schedstat of the daemon's threads, less the idle rate over the
// same time; "read" is the first figure less a gzip scrape's.
//
//	one   1 program of N replicas (`sleep 100000`), cgroups as the daemon
//	      finds them (its default)
//	many  N programs of 1 replica each, the same
//	proc  1 program of N replicas, --cgroup-root none (usage from /proc)
//
// Everything it starts carries RECONCILED_BENCH_TOKEN=<token>; at the end, on
// failure and on SIGINT/SIGTERM it stops the daemon and SIGKILLs whatever
// still carries the token.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

type config struct {
	bin           string
	n             int
	scrapes       int
	rounds        int
	idle, settle  time.Duration
	readWindow    time.Duration
	wait, timeout time.Duration
	cases         string
	token         string
	keep, verbose bool
}

func parseFlags() config {
	var c config
	flag.StringVar(&c.bin, "bin", "", "the reconciled binary (required)")
	flag.IntVar(&c.n, "n", 1000, "instances")
	flag.IntVar(&c.scrapes, "scrapes", 20, "scrapes per round")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds per case")
	flag.DurationVar(&c.idle, "idle", 5*time.Second, "idle window before the scrapes")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "quiet time once every instance is ready")
	flag.DurationVar(&c.readWindow, "read-window", 2*time.Second, "time after a round's first scrape over which its usage read is measured")
	flag.StringVar(&c.cases, "cases", "one,many,proc", "cases to run, comma-separated")
	flag.DurationVar(&c.wait, "wait", 2*time.Minute, "bound of any single wait")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Minute, "bound of the whole benchmark")
	flag.StringVar(&c.token, "token", "", "marker put in the environment of everything started (default: random)")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch directories (daemon log, status and event files)")
	flag.BoolVar(&c.verbose, "v", false, "print progress")
	flag.Parse()
	if c.bin == "" || c.n <= 0 || c.scrapes <= 0 || c.rounds <= 0 {
		fmt.Fprintln(os.Stderr, "usage: scrape -bin RECONCILED [-n 1000] [-scrapes 20] [-rounds 5] [-cases one,many,proc]")
		flag.PrintDefaults()
		os.Exit(2)
	}
	return c
}

// result is one case's figures.
type result struct {
	name          string
	series, bytes int       // of one scrape, uncompressed
	gzBytes       int       // as sent with gzip
	first         []float64 // ms of daemon CPU: a round's first scrape and the usage read it sets off; one per round
	cached, plain []float64 // ms of daemon CPU per scrape once usage is read: with gzip, without; one per round
	wall          float64   // ms per gzip scrape once usage is read, median round
	idlePct       float64   // daemon CPU while idle, % of a core
}

func main() {
	cfg := parseFlags()
	procs := benchkit.NewProcs(cfg.token)
	var ws *benchkit.Workspace
	cleanup := func() { procs.Cleanup(ws) }
	stop := benchkit.Guard("scrape", cfg.timeout, cleanup, os.Exit)
	var results []result
	var err error
	for _, name := range strings.Split(cfg.cases, ",") {
		var r result
		r, ws, err = runCase(cfg, procs, name)
		if err != nil {
			break
		}
		results = append(results, r)
		procs.Cleanup(ws)
		procs = benchkit.NewProcs(cfg.token)
		ws = nil
	}
	stop()
	cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scrape: FAILED:", err)
		os.Exit(1)
	}
	report(cfg, results)
}

func say(cfg config, format string, args ...any) {
	if cfg.verbose {
		fmt.Fprintf(os.Stderr, "scrape: "+format+"\n", args...)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func spec(replicas int) string {
	return fmt.Sprintf("spec:\n  command: [sleep, \"100000\"]\n  replicas: %d\n  startSeconds: 0s\n  restartDelay: 0s\n  stdout: null\n  stderr: null\n", replicas)
}

// runCase runs one case with a daemon of its own.
func runCase(cfg config, procs *benchkit.Procs, name string) (result, *benchkit.Workspace, error) {
	r := result{name: name}
	ws, err := benchkit.NewWorkspace("", "rcd-scrape-", cfg.keep, cfg.wait)
	if err != nil {
		return r, nil, err
	}
	port, err := freePort()
	if err != nil {
		return r, ws, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	extra := []string{"--http", "127.0.0.1:" + strconv.Itoa(port), "--resync", "0"}
	var names []string
	switch name {
	case "one":
		names = []string{"bench"}
	case "proc":
		names = []string{"bench"}
		extra = append(extra, "--cgroup-root", "none")
	case "many":
		for i := range cfg.n {
			names = append(names, fmt.Sprintf("bench%04d", i))
		}
	default:
		return r, ws, fmt.Errorf("unknown case %q (one, many, proc)", name)
	}
	d, err := procs.StartDaemon(cfg.bin, ws.Specs, ws.Log, extra...)
	if err != nil {
		return r, ws, err
	}
	replicas := cfg.n / len(names)
	for _, n := range names {
		if _, err := ws.Place(n, spec(replicas)); err != nil {
			return r, ws, err
		}
	}
	say(cfg, "%s: waiting for %d instances", name, cfg.n)
	deadline := time.Now().Add(cfg.wait)
	for {
		ready := 0
		for _, n := range names {
			if h, ok := benchkit.ReadStatusHead(ws.StatusPath(n)); ok && h.Ready > 0 {
				ready += h.Ready
			}
		}
		if ready == cfg.n {
			break
		}
		if time.Now().After(deadline) {
			return r, ws, fmt.Errorf("%s: %d/%d ready after %v; see %s", name, ready, cfg.n, cfg.wait, ws.Log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(cfg.settle)

	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(gzip bool) (int, error) {
		req, _ := http.NewRequest("GET", base+"/metrics", nil)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
		}
		return int(n), err
	}
	// A first scrape builds the per-status memos, as the first scrape
	// after a change does, and sets off the first read of usage; then one
	// plain scrape for the size and the series.
	if _, err := get(true); err != nil {
		return r, ws, err
	}
	time.Sleep(cfg.readWindow)
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return r, ws, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.bytes = len(body)
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) > 0 && line[0] != '#' {
			r.series++
		}
	}
	if r.gzBytes, err = get(true); err != nil {
		return r, ws, err
	}

	c0, err := benchkit.ReadCPU(d.Pid())
	if err != nil {
		return r, ws, err
	}
	t0 := time.Now()
	time.Sleep(cfg.idle)
	c1, _ := benchkit.ReadCPU(d.Pid())
	idleRate := float64(c1.Since(c0).NS) / float64(time.Since(t0)) // ns of CPU per ns
	r.idlePct = idleRate * 100
	var walls []float64
	cpuSince := func(c0 benchkit.CPUReading, t0 time.Time) float64 {
		c1, _ := benchkit.ReadCPU(d.Pid())
		return (float64(c1.Since(c0).NS) - idleRate*float64(time.Since(t0))) / 1e6
	}
	scrapes := func(gzip bool) (float64, error) {
		c0, _ := benchkit.ReadCPU(d.Pid())
		t0 := time.Now()
		for range cfg.scrapes {
			if _, err := get(gzip); err != nil {
				return 0, err
			}
		}
		if gzip {
			walls = append(walls, float64(time.Since(t0))/1e6/float64(cfg.scrapes))
		}
		return cpuSince(c0, t0) / float64(cfg.scrapes), nil
	}
	for range cfg.rounds {
		time.Sleep(11 * time.Second) // the daemon reads usage again once its figures are 10 s old
		c0, _ := benchkit.ReadCPU(d.Pid())
		t0 := time.Now()
		if _, err := get(true); err != nil {
			return r, ws, err
		}
		time.Sleep(cfg.readWindow)
		r.first = append(r.first, cpuSince(c0, t0))
		ms, err := scrapes(true)
		if err != nil {
			return r, ws, err
		}
		r.cached = append(r.cached, ms)
		if ms, err = scrapes(false); err != nil {
			return r, ws, err
		}
		r.plain = append(r.plain, ms)
	}
	r.wall = benchkit.Median(walls)
	say(cfg, "%s: %v ms with the read, %v ms gzip, %v ms plain", name, r.first, r.cached, r.plain)
	return r, ws, nil
}

func report(cfg config, results []result) {
	fmt.Printf("N = %d instances, %d rounds of 1 + %d + %d scrapes; daemon CPU (schedstat, less the idle rate), medians (range)\n\n",
		cfg.n, cfg.rounds, cfg.scrapes, cfg.scrapes)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tseries\tbody\tgzip\tfirst scrape + its read (ms)\tscrape, gzip (ms)\tscrape, plain (ms)\tread (ms)\twall, gzip (ms)\tidle CPU")
	for _, r := range results {
		first, cached := benchkit.Median(r.first), benchkit.Median(r.cached)
		fmt.Fprintf(tw, "%s\t%d\t%d KiB\t%d KiB\t%.1f (%s)\t%.1f (%s)\t%.1f (%s)\t%.1f\t%.1f\t%.2f%%\n", r.name, r.series, r.bytes>>10, r.gzBytes>>10,
			first, benchkit.Span(r.first, 1), cached, benchkit.Span(r.cached, 1), benchkit.Median(r.plain), benchkit.Span(r.plain, 1), first-cached, r.wall, r.idlePct)
	}
	tw.Flush()
}
