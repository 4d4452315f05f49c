package main

import (
	"fmt"
	"io"
	"os"
	"sync"

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
// are (output.File), instead of standard error; either way through a
// batchWriter. The returned function flushes and closes it.
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
	var file *output.File
	var dst io.Writer = os.Stderr
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
		dst = file
	}
	// Each Write of the batchWriter is whole lines, so a rotation never
	// cuts one.
	bw := newBatchWriter(dst)
	z, err := cfg.Build(zap.WrapCore(func(zapcore.Core) zapcore.Core {
		return zapcore.NewCore(enc, bw, cfg.Level)
	}))
	if err != nil {
		bw.Close()
		if file != nil {
			file.Close()
		}
		return logr.Discard(), nil, fmt.Errorf("build logger: %w", err)
	}
	flush := func() {
		_ = z.Sync()
		bw.Close()
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

// WithoutCaller returns the sink with the caller (file:line) left out of
// its lines, for those whose caller tells nothing (the reconciler's event
// lines: see its callerless interface). Name and values stay.
func (s warnSink) WithoutCaller() logr.LogSink {
	u, ok := s.inner.(zapr.Underlier)
	if !ok {
		return s
	}
	return warnSink{zapr.NewLogger(u.GetUnderlying().WithOptions(zap.WithCaller(false))).GetSink()}
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

// batchWriter writes the daemon's log lines from a goroutine of its own,
// everything that has come in since its last write(2) in one: in a stop of
// thousands the daemon logs two lines per instance from one goroutine, and
// a write(2) per line cost about half of what logging them costs. A line
// waits only while the goroutine writes the lines before it, so an idle
// daemon's line still goes out at once; Sync and Close wait until every
// line taken is written. What a crash of the process can lose is what the
// goroutine had not written yet. Lines pile up to at most batchMax bytes,
// then Write waits, as a write(2) to a slow reader would. After Close,
// Write writes at once itself.
type batchWriter struct {
	w io.Writer

	mu      sync.Mutex
	cond    sync.Cond // signalled when buf was taken or written, or on close
	buf     []byte    // taken, not yet written
	spare   []byte
	writing bool // the goroutine is writing a batch
	closed  bool
	err     error // the last write's, returned by the next Write or Sync
	wake    chan struct{}
	done    chan struct{}
}

// batchMax bounds the bytes a batchWriter holds.
const batchMax = 256 << 10

func newBatchWriter(w io.Writer) *batchWriter {
	b := &batchWriter{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.cond.L = &b.mu
	go b.run()
	return b
}

// Write takes p (whole lines: one zap entry) for the goroutine to write.
func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	for len(b.buf) >= batchMax && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		defer b.mu.Unlock()
		for len(b.buf) > 0 || b.writing { // the goroutine's last batch first
			b.cond.Wait()
		}
		return b.w.Write(p)
	}
	err := b.err
	b.err = nil
	b.buf = append(b.buf, p...)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return len(p), err
}

// Sync waits until every line taken is written.
func (b *batchWriter) Sync() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for (len(b.buf) > 0 || b.writing) && !b.closed {
		b.cond.Wait()
	}
	err := b.err
	b.err = nil
	return err
}

// Close writes what is left and ends the goroutine. It may be called
// more than once.
func (b *batchWriter) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return
	}
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
	close(b.wake)
	<-b.done
}

func (b *batchWriter) run() {
	defer close(b.done)
	for open := true; open; {
		_, open = <-b.wake
		b.mu.Lock()
		for len(b.buf) > 0 {
			batch := b.buf
			b.buf, b.spare = b.spare[:0], nil
			b.writing = true
			b.cond.Broadcast()
			b.mu.Unlock()
			_, err := b.w.Write(batch)
			b.mu.Lock()
			if err != nil {
				b.err = err
			}
			b.spare = batch[:0]
			b.writing = false
			b.cond.Broadcast()
		}
		b.mu.Unlock()
	}
}
