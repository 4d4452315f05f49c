package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/reconciler/output"
	"github.com/reconciled/reconciled/spec"
)

type runOptions struct {
	resync     time.Duration
	logFormat  string
	logLevel   string
	attach     bool
	timestamps bool
	exitOn     string
	only       []string
	exclude    []string
	cgroupRoot string
	trustAll   bool
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
and --exclude run a subset of the directory's programs.`,
		Example: `  reconciled run --dir /etc/reconciled
  reconciled run --dir ./examples --log-level debug
  reconciled run --dir ./dev --attach --exit-on failure
  reconciled run --dir ./dev --attach --only web,worker`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, flush, err := newLogger(o.logFormat, o.logLevel)
			if err != nil {
				return &usageError{err}
			}
			policy, err := reconciler.ParseExitPolicy(o.exitOn)
			if err != nil {
				return &usageError{fmt.Errorf("--exit-on: %w", err)}
			}
			for _, n := range append(append([]string(nil), o.only...), o.exclude...) {
				if !spec.ValidName(n) {
					return &usageError{fmt.Errorf("--only/--exclude: %q is not a program name", n)}
				}
			}
			defer flush()
			ctx, stop := stopOnSignal(cmd.Context())
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			resync := o.resync
			if resync == 0 {
				resync = -1 // --resync 0 turns the safety rescan off
			}
			reload := make(chan struct{}, 1)
			go forwardSignals(ctx, hup, reload)
			err = reconciler.RunDaemon(ctx, reconciler.DaemonOptions{
				Dir: g.dir, StatusDir: g.statusDir, Resync: resync, Reload: reload,
				Stdout: os.Stdout, Stderr: os.Stderr, Log: log,
				Attach: o.attach, Timestamps: o.timestamps, Color: output.ShouldColor(os.Stdout, os.Environ()),
				ExitOn: policy, Only: o.only, Exclude: o.exclude, CgroupRoot: o.cgroupRoot,
				TrustAllOwners: o.trustAll,
			})
			var exit *reconciler.ExitCodeError
			switch {
			case errors.As(err, &exit):
				return &exitError{code: exit.Code, msg: exit.Error()}
			case errors.Is(err, reconciler.ErrLocked):
				return &exitError{code: 1, msg: err.Error()}
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&o.resync, "resync", 30*time.Second, "period of the safety rescan of the directory; 0 turns it off")
	cmd.Flags().StringVar(&o.logFormat, "log-format", "console", "log format: console or json")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().BoolVar(&o.attach, "attach", false, `also print every instance's output, each line prefixed "NAME-i | "`)
	cmd.Flags().BoolVar(&o.timestamps, "timestamps", false, "with --attach, put the time before each line")
	cmd.Flags().StringVar(&o.exitOn, "exit-on", "never", "end the daemon by itself: never, failure (when any instance ends) or all-succeeded (when all have exited 0, or any has failed)")
	cmd.Flags().StringSliceVar(&o.only, "only", nil, "run only these programs (comma-separated names)")
	cmd.Flags().StringSliceVar(&o.exclude, "exclude", nil, "do not run these programs (comma-separated names)")
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

func forwardSignals(ctx context.Context, in <-chan os.Signal, out chan<- struct{}) {
	for {
		select {
		case <-in:
			select {
			case out <- struct{}{}:
			default:
			}
		case <-ctx.Done():
			return
		}
	}
}

// newLogger builds the daemon's logger: zap, wrapped by zapr as a logr.Logger.
func newLogger(format, level string) (logr.Logger, func(), error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return logr.Discard(), nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	var cfg zap.Config
	switch format {
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		cfg.DisableStacktrace = true
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	default:
		return logr.Discard(), nil, fmt.Errorf("--log-format: %q is not one of console, json", format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	z, err := cfg.Build()
	if err != nil {
		return logr.Discard(), nil, fmt.Errorf("build logger: %w", err)
	}
	return zapr.NewLogger(z), func() { _ = z.Sync() }, nil
}
