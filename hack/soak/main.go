package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	var opt options
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	fs.StringVar(&opt.bin, "bin", "", "reconciled binary (default: build ./cmd/reconciled into a temp dir)")
	fs.IntVar(&opt.programs, "programs", 200, "number of programs")
	fs.DurationVar(&opt.duration, "duration", 10*time.Minute, "how long the storm lasts")
	fs.DurationVar(&opt.interval, "interval", 100*time.Millisecond, "pause between two chaos actions")
	fs.DurationVar(&opt.grace, "grace", 2*time.Second, "time past stopTimeout before a leftover process is an orphan")
	fs.DurationVar(&opt.converge, "converge", 10*time.Second, "time the final state may take after the storm")
	fs.Uint64Var(&opt.seed, "seed", 0, "random seed (default: random; printed in the summary)")
	fs.BoolVar(&opt.keep, "keep", false, "keep the temp dir (manifests, status, daemon.log) for a post-mortem")
	_ = fs.Parse(os.Args[1:])
	if opt.seed == 0 {
		opt.seed = rand.Uint64()
	}
	opt.log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	line, violations, err := run(ctx, opt)
	stop()
	if line != "" {
		fmt.Println(line)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if violations > 0 {
		os.Exit(1)
	}
}

// run builds the binary if needed, runs one soak and always cleans up. It
// returns the summary line and the number of violations.
func run(ctx context.Context, opt options) (line string, violations int, err error) {
	if opt.log == nil {
		opt.log = io.Discard
	}
	if opt.bin == "" {
		tmp, err := os.MkdirTemp("", "reconciled-soak-bin-")
		if err != nil {
			return "", 0, fmt.Errorf("temp dir: %w", err)
		}
		defer os.RemoveAll(tmp)
		opt.bin = filepath.Join(tmp, "reconciled")
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		out, err := exec.CommandContext(bctx, "go", "build", "-o", opt.bin, "./cmd/reconciled").CombinedOutput()
		cancel()
		if err != nil {
			return "", 0, fmt.Errorf("build reconciled (run from the repository root or pass -bin): %w: %s", err, out)
		}
	}
	s, err := newSoak(opt)
	if s != nil {
		defer func() {
			if cerr := s.cleanup(); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
	if err != nil {
		return "", 0, err
	}
	start := time.Now()
	if err := s.setup(); err != nil {
		return "", 0, err
	}
	if err := s.startDaemon(); err != nil {
		return "", 0, err
	}
	cctx, stopChecks := context.WithCancel(ctx)
	checked := make(chan struct{})
	go s.checker(cctx, checked)
	defer func() { stopChecks(); <-checked }()
	if err := s.storm(ctx); err != nil {
		return "", 0, fmt.Errorf("storm: %w", err)
	}
	if !s.daemonAlive() {
		if err := s.startDaemon(); err != nil {
			return "", 0, err
		}
	}
	took, err := s.converge(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("converge: %w", err)
	}
	stopChecks()
	<-checked
	s.check()
	if !s.daemonAlive() {
		s.violate("daemon-final", "daemon not running at the end")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n
	line = fmt.Sprintf("soak: %s, %d programs, seed %d: edits=%d (left invalid %d, deleted %d, cli %d of which refused %d) instance-kills=%d daemon-restarts=%d sighups=%d status-reads=%d scans=%d converged-in=%s violations=%d",
		time.Since(start).Round(time.Second), opt.programs, opt.seed, n.edits+n.cliEdits, n.invalidEdits, n.deletes, n.cliEdits, n.cliFailures,
		n.kills, n.daemonKills, n.sighups, n.statusReads, n.scans, took.Round(10*time.Millisecond), s.violations)
	return line, s.violations, nil
}
