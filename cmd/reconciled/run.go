package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/reconciler/output"
	"github.com/reconciled/reconciled/spec"
)

type runOptions struct {
	resync     time.Duration
	log        logOptions
	attach     bool
	timestamps bool
	exitOn     string
	only       []string
	exclude    []string
	cgroupRoot string
	trustAll   bool
	http       string

	// Seams for tests: seamPass runs after each pass on the loop's
	// goroutine (a test blocks the loop with it); seamListen gets the
	// address --http listens on.
	seamPass   func(reconciler.PassReport)
	seamListen func(net.Addr)
}

func newRunCommand(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground (systemd or a container runs it): watch the
directory, start and stop processes to match its manifests, and write status and
event files. SIGTERM or SIGINT stops every instance and exits 0; SIGHUP rescans.

Development mode: --attach also prints every instance's output, each line
prefixed "NAME-i | " (coloured per program on a terminal, unless NO_COLOR is
set). --exit-on failure stops everything when any instance ends and exits with
its exit code (128+signal if a signal killed it); --exit-on all-succeeded
leaves instances that exit 0 finished, stops on any other exit in the same way,
and exits 0 once all have exited 0. Under both nothing is restarted, and a
SIGTERM or SIGINT to the daemon goes on to every instance as that signal (not
its stop signal; stopTimeout still applies) and the daemon exits 128+signal. --only
and --exclude run a subset of the directory's programs; daemons with them may
share a directory (run --only web in one terminal, run --exclude web in
another): each program is owned by one daemon, and a daemon leaves a program
another owns alone, with an OwnedByOtherDaemon event naming the owner's pid.
Without them a daemon owns every program, and is refused beside any other.

Operating it: --http ADDR serves Prometheus metrics on /metrics, /healthz (200
while the loop answers) and /readyz (200 once the first pass has started every
instance). Under systemd (NOTIFY_SOCKET set) the daemon sends READY=1, STATUS=,
RELOADING=1 around SIGHUP, STOPPING=1 and, with WatchdogSec=, WATCHDOG=1 while
its loop answers. As PID 1 of a container it reaps every orphan.`,
		Example: `  reconciled run --dir /etc/reconciled
  reconciled run --dir ./examples --log-level debug
  reconciled run --dir ./dev --attach --exit-on failure
  reconciled run --dir ./dev --attach --only web,worker
  reconciled run --dir /etc/reconciled --http 127.0.0.1:9102`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, flush, err := newLogger(o.log)
			if err != nil {
				return &usageError{Err: err}
			}
			if _, err := reconciler.ParseExitPolicy(o.exitOn); err != nil {
				return &usageError{Err: fmt.Errorf("--exit-on: %w", err)}
			}
			for _, n := range append(append([]string(nil), o.only...), o.exclude...) {
				if !spec.ValidName(n) {
					return &usageError{Err: fmt.Errorf("--only/--exclude: %q is not a program name", n)}
				}
			}
			defer flush()
			return runDaemon(cmd.Context(), g, o, log)
		},
	}
	cmd.Flags().DurationVar(&o.resync, "resync", 30*time.Second, "period of the safety rescan of the directory; 0 turns it off")
	cmd.Flags().StringVar(&o.log.format, "log-format", "console", "log format: console or json")
	cmd.Flags().StringVar(&o.log.level, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&o.log.file, "log-file", "", "write the daemon's log to this file, rotated by size, instead of standard error")
	cmd.Flags().StringVar(&o.log.maxSize, "log-max-size", defaultLogMaxSize, "with --log-file, the size past which it is rotated (PATH.1 is the newest backup)")
	cmd.Flags().IntVar(&o.log.maxBackups, "log-max-backups", defaultLogMaxBackups, "with --log-file, the number of rotated files kept")
	cmd.Flags().BoolVar(&o.attach, "attach", false, `also print every instance's output, each line prefixed "NAME-i | "`)
	cmd.Flags().BoolVar(&o.timestamps, "timestamps", false, "with --attach, put the time before each line")
	cmd.Flags().StringVar(&o.exitOn, "exit-on", "never", "end the daemon by itself: never, failure (when any instance ends) or all-succeeded (when all have exited 0, or any has failed)")
	cmd.Flags().StringSliceVar(&o.only, "only", nil, "run only these programs (comma-separated names)")
	cmd.Flags().StringSliceVar(&o.exclude, "exclude", nil, "do not run these programs (comma-separated names)")
	cmd.Flags().StringVar(&o.http, "http", os.Getenv("RECONCILED_HTTP"), "serve /metrics, /healthz and /readyz on this address, such as 127.0.0.1:9102 (env RECONCILED_HTTP; default: off)")
	cmd.Flags().StringVar(&o.cgroupRoot, "cgroup-root", "", `cgroup v2 path under which every instance gets a cgroup of its own (default: reconciled-<hash> under the daemon's own cgroup); "none": process groups only`)
	cmd.Flags().BoolVar(&o.trustAll, "trust-all-owners", false, "as root: let a manifest name any user whoever owns it (the owner rule off; files and directories must still not be writable by group or other)")
	return cmd
}

// stopOnSignal returns a context that SIGTERM or SIGINT ends, with a
// *reconciler.ShutdownSignal cause that names the signal (under --exit-on
// the daemon passes it on to the instances and exits 128+signal).
func stopOnSignal(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case s := <-sigs:
			cancel(&reconciler.ShutdownSignal{Signal: s.(syscall.Signal)})
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel(nil) }
}

// runDaemon is `reconciled run` once its flags are parsed: the daemon and
// its observers, until SIGTERM or SIGINT (or an exit policy) ends it.
func runDaemon(ctx context.Context, g *globalOptions, o *runOptions, log logr.Logger) error {
	ctx, stop := stopOnSignal(ctx)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	obs, err := startObservers(ctx, o.http, log, o.seamListen)
	if err != nil {
		return &exitError{Code: 1, Msg: err.Error()}
	}
	defer obs.close()
	obs.seamPass = o.seamPass
	resync := o.resync
	if resync == 0 {
		resync = -1 // --resync 0 turns the safety rescan off
	}
	reload := make(chan struct{}, 1)
	go forwardSignals(ctx, hup, reload, obs.reloading)
	err = reconciler.RunDaemon(ctx, reconciler.DaemonOptions{
		Dir: g.dir, StatusDir: g.statusDir, Resync: resync, Reload: reload,
		Stdout: os.Stdout, Stderr: os.Stderr, Log: log,
		Attach: o.attach, Timestamps: o.timestamps, Color: output.ShouldColor(os.Stdout, os.Environ()),
		ExitOn: reconciler.ExitPolicy(o.exitOn), Only: o.only, Exclude: o.exclude, CgroupRoot: o.cgroupRoot,
		TrustAllOwners: o.trustAll,
		Observers:      obs.observers(),
	})
	var exit *reconciler.ExitCodeError
	switch {
	case errors.As(err, &exit):
		return &exitError{Code: exit.Code, Msg: exit.Error()}
	case errors.Is(err, reconciler.ErrLocked):
		return &exitError{Code: 1, Msg: err.Error()}
	}
	return err
}

// forwardSignals turns each SIGHUP into a rescan request, telling
// onReload first.
func forwardSignals(ctx context.Context, in <-chan os.Signal, out chan<- struct{}, onReload func()) {
	for {
		select {
		case <-in:
			onReload()
			select {
			case out <- struct{}{}:
			default:
			}
		case <-ctx.Done():
			return
		}
	}
}
