package main

import (
	"fmt"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/reconciled/reconciled/reconciler/output"
	"github.com/reconciled/reconciled/spec"
)

// Defaults of --log-max-size and --log-max-backups: those of an instance's
// own log files.
const (
	defaultLogMaxSize    = "50MiB"
	defaultLogMaxBackups = spec.DefaultLogMaxBackups
)

// logOptions say where and how the daemon logs.
type logOptions struct {
	format, level string
	// file is the log file; empty: standard error (the journal's, under
	// systemd).
	file       string
	maxSize    string
	maxBackups int
}

// newLogger builds the daemon's logger: zap, wrapped by zapr as a
// logr.Logger whose sink also has zap's warning level (see warnSink). With
// o.file, the log goes to that file, rotated by size as instances' log files
// are (output.File), instead of standard error. The returned function
// flushes and closes it.
func newLogger(o logOptions) (logr.Logger, func(), error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(o.level)); err != nil {
		return logr.Discard(), nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", o.level)
	}
	var cfg zap.Config
	var enc zapcore.Encoder
	switch o.format {
	case "console":
		cfg = zap.NewDevelopmentConfig()
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
		cfg.DisableStacktrace = true
		enc = zapcore.NewConsoleEncoder(cfg.EncoderConfig)
	case "json":
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
		enc = zapcore.NewJSONEncoder(cfg.EncoderConfig)
	default:
		return logr.Discard(), nil, fmt.Errorf("--log-format: %q is not one of console, json", o.format)
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	var opts []zap.Option
	var file *output.File
	if o.file != "" {
		size, err := spec.ParseSize(o.maxSize)
		if err != nil {
			return logr.Discard(), nil, fmt.Errorf("--log-max-size: %w", err)
		}
		if o.maxBackups < 0 {
			return logr.Discard(), nil, fmt.Errorf("--log-max-backups: %d is negative", o.maxBackups)
		}
		file, err = output.OpenFile(o.file, output.FileOptions{MaxSize: size, MaxBackups: o.maxBackups, CreateDir: true})
		if err != nil {
			return logr.Discard(), nil, fmt.Errorf("--log-file: %w", err)
		}
		// Each entry is one Write of whole lines, so a rotation never cuts one.
		opts = append(opts, zap.WrapCore(func(zapcore.Core) zapcore.Core {
			return zapcore.NewCore(enc, zapcore.AddSync(file), cfg.Level)
		}))
	}
	z, err := cfg.Build(opts...)
	if err != nil {
		if file != nil {
			file.Close()
		}
		return logr.Discard(), nil, fmt.Errorf("build logger: %w", err)
	}
	flush := func() {
		_ = z.Sync()
		if file != nil {
			file.Close()
		}
	}
	return newWarnLogger(z), flush, nil
}

// newWarnLogger returns z as a logr.Logger whose sink is a warnSink.
func newWarnLogger(z *zap.Logger) logr.Logger {
	inner := zapr.NewLogger(z).GetSink()
	if cd, ok := inner.(logr.CallDepthLogSink); ok {
		inner = cd.WithCallDepth(1) // warnSink's own frame
	}
	return logr.New(warnSink{inner})
}

// warnSink is zapr's logr.LogSink with zap's warning level added: logr has
// only info (at verbosities) and error, and the daemon's log tells a crash
// (warn) from a failure of its own (error). The reconciler finds Warn on
// the sink (its warner interface) and calls it through one helper of its
// own: the line's caller is that helper's caller, as for Info.
type warnSink struct {
	inner logr.LogSink // zapr's, already initialised
}

func (s warnSink) Init(logr.RuntimeInfo)  {}
func (s warnSink) Enabled(level int) bool { return s.inner.Enabled(level) }
func (s warnSink) Info(level int, msg string, kv ...any) {
	s.inner.Info(level, msg, kv...)
}
func (s warnSink) Error(err error, msg string, kv ...any) {
	s.inner.Error(err, msg, kv...)
}
func (s warnSink) WithValues(kv ...any) logr.LogSink { return warnSink{s.inner.WithValues(kv...)} }
func (s warnSink) WithName(name string) logr.LogSink { return warnSink{s.inner.WithName(name)} }
func (s warnSink) WithCallDepth(depth int) logr.LogSink {
	if cd, ok := s.inner.(logr.CallDepthLogSink); ok {
		return warnSink{cd.WithCallDepth(depth)}
	}
	return s
}

// Warn logs msg at zap's warning level, with the sink's name and values.
func (s warnSink) Warn(msg string, kv ...any) {
	u, ok := s.inner.(zapr.Underlier)
	if !ok {
		s.inner.Info(0, msg, kv...)
		return
	}
	// The underlying logger skips the frames of an Info through logr
	// (logr.Logger.Info, warnSink.Info, zapr's Info); Warn is called as
	// warnSink.Warn from the reconciler's helper: one frame fewer.
	z := u.GetUnderlying().WithOptions(zap.AddCallerSkip(-1))
	ce := z.Check(zap.WarnLevel, msg)
	if ce == nil {
		return
	}
	fields := make([]zap.Field, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		fields = append(fields, zap.Any(key, kv[i+1]))
	}
	ce.Write(fields...)
}
