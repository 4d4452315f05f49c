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
)

type runOptions struct {
	resync    time.Duration
	logFormat string
	logLevel  string
}

func newRunCommand(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon in the foreground",
		Long: `Run the daemon in the foreground (systemd or a container runs it): watch the
directory, start and stop processes to match its manifests, and write status and
event files. SIGTERM or SIGINT stops every instance and exits 0; SIGHUP rescans.`,
		Example: `  reconciled run --dir /etc/reconciled
  reconciled run --dir ./examples --log-level debug`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, flush, err := newLogger(o.logFormat, o.logLevel)
			if err != nil {
				return &usageError{err}
			}
			defer flush()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
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
			})
			if errors.Is(err, reconciler.ErrLocked) {
				return &exitError{code: 1, msg: err.Error()}
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&o.resync, "resync", 30*time.Second, "period of the safety rescan of the directory; 0 turns it off")
	cmd.Flags().StringVar(&o.logFormat, "log-format", "console", "log format: console or json")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
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
