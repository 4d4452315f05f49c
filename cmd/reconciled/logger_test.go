package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
)

// warnLikeReconciler calls Warn as the reconciler's helper does: through
// the sink, from one helper frame.
func warnLikeReconciler(log logr.Logger, msg string, kv ...any) {
	log.GetSink().(interface{ Warn(string, ...any) }).Warn(msg, kv...)
}

// Warn keeps the logger's name and values, logs at zap's warning level, and
// names the helper's caller, as Info names its own.
func TestWarnSink(t *testing.T) {
	core, seen := observer.New(zapcore.DebugLevel)
	log := newWarnLogger(zap.New(core, zap.AddCaller())).WithName("reconciler").WithValues("program", "web")
	_, _, line, _ := runtime.Caller(0)
	warnLikeReconciler(log, "Back-off restarting", "instance", "web-0")
	log.Info("Spawned", "pid", 7)
	log.V(1).Info("Debug")
	log.Error(nil, "Gave up")
	got := seen.AllUntimed()
	if len(got) != 4 {
		t.Fatalf("got %d entries, want 4: %+v", len(got), got)
	}
	w := got[0]
	if w.Level != zapcore.WarnLevel || w.Message != "Back-off restarting" || w.LoggerName != "reconciler" {
		t.Errorf("warn entry = %v %q %q", w.Level, w.Message, w.LoggerName)
	}
	if m := w.ContextMap(); m["program"] != "web" || m["instance"] != "web-0" {
		t.Errorf("warn fields = %v", m)
	}
	if !strings.HasSuffix(w.Caller.File, "logger_test.go") || w.Caller.Line != line+1 {
		t.Errorf("warn caller = %s:%d, want logger_test.go:%d", w.Caller.File, w.Caller.Line, line+1)
	}
	if i := got[1]; i.Level != zapcore.InfoLevel || i.Caller.Line != line+2 || i.ContextMap()["program"] != "web" {
		t.Errorf("info entry = %v at line %d, fields %v", i.Level, i.Caller.Line, i.ContextMap())
	}
	if got[2].Level != zapcore.DebugLevel || got[3].Level != zapcore.ErrorLevel {
		t.Errorf("levels = %v, %v", got[2].Level, got[3].Level)
	}
}

// --log-file writes the log to a file rotated by size, whole lines in each
// file, creating its directory.
func TestLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log", "reconciled.log")
	log, flush, err := newLogger(logOptions{format: "json", level: "info", file: path, maxSize: "1K", maxBackups: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		log.Info("Spawned", "instance", "web-0", "pid", i)
	}
	flush()
	for _, p := range []string{path, path + ".1", path + ".2"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1024 {
			t.Errorf("%s: %d bytes, more than 1K", p, len(b))
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil || m["msg"] != "Spawned" {
				t.Errorf("%s: line %q: %v", p, line, err)
			}
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Errorf("%s.3 kept past --log-max-backups 2", path)
	}
}

func TestLogFileBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		o    logOptions
		want string
	}{
		{logOptions{format: "console", level: "info", file: filepath.Join(dir, "a.log"), maxSize: "lots"}, "--log-max-size"},
		{logOptions{format: "console", level: "info", file: filepath.Join(dir, "a.log"), maxSize: "1M", maxBackups: -1}, "--log-max-backups"},
		{logOptions{format: "xml", level: "info"}, "--log-format"},
		{logOptions{format: "console", level: "loud"}, "--log-level"},
	} {
		if _, _, err := newLogger(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want one about %s", tt.o, err, tt.want)
		}
	}
	res := cliExec(context.Background(), "", "run", "--dir", dir, "--log-file", filepath.Join(dir, "x.log"), "--log-max-size", "lots")
	if res.code != 2 || !strings.Contains(res.stderr, "reconciled: --log-max-size") {
		t.Errorf("run with a bad --log-max-size: %v", res)
	}
}

// The daemon's log at the default level tells what happened to a program
// that keeps failing, one line per event, as supervisord's would: spawned,
// exited (warn, with the exit code), gave up (error).
func TestDaemonLogTellsTheStory(t *testing.T) {
	cliDaemonMu.Lock()
	defer cliDaemonMu.Unlock()
	dir := t.TempDir()
	path := filepath.Join(dir, "daemon.log")
	log, flush, err := newLogger(logOptions{format: "console", level: "info", file: path, maxSize: "1M", maxBackups: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- reconciler.RunDaemon(ctx, reconciler.DaemonOptions{Dir: dir, Resync: time.Second, Log: log,
			Stdout: os.Stdout, Stderr: os.Stderr, CgroupRoot: "none"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunDaemon: %v", err)
		}
		flush()
		reconciler.CleanupStale(dir, logr.Discard())
	}()
	manifest := cliManifest("[/bin/sh, -c, 'exit 3']", "startRetries: 2")
	if err := os.WriteFile(filepath.Join(dir, ".crash.tmp"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, ".crash.tmp"), filepath.Join(dir, "crash.yaml")); err != nil {
		t.Fatal(err)
	}
	var text string
	waitfor.Condition(t, cliTimeout, func() bool {
		b, _ := os.ReadFile(path)
		text = string(b)
		return strings.Contains(text, "Gave up")
	}, "the FATAL line in the daemon's log")
	for _, want := range [][]string{
		{"INFO", "Spawned", `"program": "crash"`, `"instance": "crash-0"`, `"pid": `},
		{"WARN", "Exited", `"instance": "crash-0"`, `"exitCode": 3`},
		{"WARN", "Back-off restarting", `"instance": "crash-0"`, `"reason": "exited with code 3 before startSeconds`},
		{"ERROR", "Gave up: entered FATAL state", `"instance": "crash-0"`, `"reason": "Exited too quickly`},
	} {
		if !hasLine(text, want...) {
			t.Errorf("no line with %q in the daemon's log:\n%s", want, text)
		}
	}
	if strings.Contains(text, `"Event"`) || strings.Contains(text, "\tEvent\t") {
		t.Errorf("an event logged without its own words:\n%s", text)
	}
}

// hasLine reports whether a line of text holds every part.
func hasLine(text string, parts ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// lockedBuffer is an io.Writer that counts its writes.
type lockedBuffer struct {
	mu     sync.Mutex
	b      []byte
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	l.writes++
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// The batchWriter writes every line, whole and in each writer's order;
// Sync waits for them; after Close a line is written at once.
func TestBatchWriterKeepsEveryLine(t *testing.T) {
	var dst lockedBuffer
	b := newBatchWriter(&dst)
	var wg sync.WaitGroup
	const writers, lines = 4, 500
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				if _, err := fmt.Fprintf(b, "w%d %d\n", w, i); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(dst.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*lines)
	}
	for _, line := range got {
		var w, i int
		if _, err := fmt.Sscanf(line, "w%d %d", &w, &i); err != nil || w >= writers || i != next[w] {
			t.Fatalf("line %q out of order or cut (want w%d %d)", line, w, next[w])
		}
		next[w]++
	}
	b.Close()
	b.Close()
	if _, err := b.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(dst.String(), "after\n") {
		t.Errorf("a line written after Close is missing")
	}
}

// WithoutCaller keeps the name, values and levels and leaves the caller out.
func TestWarnSinkWithoutCaller(t *testing.T) {
	core, seen := observer.New(zapcore.DebugLevel)
	log := newWarnLogger(zap.New(core, zap.AddCaller())).WithName("reconciler").WithValues("program", "web")
	log = log.WithSink(log.GetSink().(interface{ WithoutCaller() logr.LogSink }).WithoutCaller())
	log.Info("Stopped", "instance", "web-0")
	warnLikeReconciler(log, "Exited", "instance", "web-0")
	got := seen.AllUntimed()
	if len(got) != 2 {
		t.Fatalf("got %d entries, want 2: %+v", len(got), got)
	}
	for i, e := range got {
		if e.Caller.Defined || e.LoggerName != "reconciler" || e.ContextMap()["program"] != "web" || e.ContextMap()["instance"] != "web-0" {
			t.Errorf("entry %d: caller %v, name %q, fields %v", i, e.Caller, e.LoggerName, e.ContextMap())
		}
	}
	if got[0].Level != zapcore.InfoLevel || got[1].Level != zapcore.WarnLevel {
		t.Errorf("levels = %v, %v", got[0].Level, got[1].Level)
	}
}
