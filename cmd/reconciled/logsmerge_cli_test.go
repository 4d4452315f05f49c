package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/reconciler/output"
	"github.com/reconciled/reconciled/status"
)

// The tests of logs that read an arrival index write the log files as the
// daemon does: through output.Group's `auto` files, on a clock they step.

// logWriter writes the auto logs of instances through an output.Group.
type logWriter struct {
	t     *testing.T
	dir   string // the logs directory
	g     *output.Group
	mu    sync.Mutex
	now   time.Time
	files map[string]io.WriteCloser // by instance/stream, this run's
	opts  output.FileOptions
}

func newLogWriter(t *testing.T, dir string, o output.FileOptions) *logWriter {
	w := &logWriter{t: t, dir: filepath.Join(dir, reconciler.StateDirName, "logs"), now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		files: map[string]io.WriteCloser{}, opts: o}
	w.g = output.NewGroup(output.Options{Now: w.clock})
	t.Cleanup(w.end)
	return w
}

func (w *logWriter) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// at sets the clock.
func (w *logWriter) at(t time.Time) {
	w.mu.Lock()
	w.now = t
	w.mu.Unlock()
}

func (w *logWriter) step(d time.Duration) { w.at(w.clock().Add(d)) }

// start begins a run of instance: new files for both streams, as the
// daemon makes for each process.
func (w *logWriter) start(instance string) {
	for _, s := range []string{"stdout", "stderr"} {
		key := instance + "/" + s
		if f := w.files[key]; f != nil {
			f.Close()
		}
		w.files[key] = w.g.LazyFile(filepath.Join(w.dir, output.LogName(instance, s)), output.FileOptions{
			MaxSize: w.opts.MaxSize, MaxBackups: w.opts.MaxBackups, CreateDir: true})
	}
}

func (w *logWriter) write(instance, stream, text string) {
	w.t.Helper()
	f := w.files[instance+"/"+stream]
	if f == nil {
		w.start(instance)
		f = w.files[instance+"/"+stream]
	}
	if _, err := f.Write([]byte(text)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *logWriter) end() {
	for k, f := range w.files {
		f.Close()
		delete(w.files, k)
	}
}

func logs(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	return cliExec(ctx, "", append([]string{"--dir", dir, "logs"}, args...)...)
}

// Both streams merged in the order the daemon read them; --stdout and
// --stderr pick one; a program's instances prefixed; --tail of the merge.
func TestCLILogsMerged(t *testing.T) {
	dir := t.TempDir()
	w := newLogWriter(t, dir, output.FileOptions{})
	w.write("web-0", "stdout", "listening\n")
	w.step(time.Second)
	w.write("web-0", "stderr", "warning: slow\n")
	w.step(time.Second)
	w.write("web-0", "stdout", "GET /\nGET /a\n")
	w.step(time.Microsecond) // the same millisecond, the other stream: its own place
	w.write("web-0", "stderr", "error: /a\n")
	w.step(time.Microsecond)
	w.write("web-0", "stdout", "GET /b\n")
	w.write("web-1", "stderr", "only errors\n")
	w.end()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"web-0"}, "listening\nwarning: slow\nGET /\nGET /a\nerror: /a\nGET /b\n"},
		{[]string{"web-0", "--stdout"}, "listening\nGET /\nGET /a\nGET /b\n"},
		{[]string{"web-0", "--stderr"}, "warning: slow\nerror: /a\n"},
		{[]string{"web-0", "--tail", "3"}, "GET /a\nerror: /a\nGET /b\n"},
		{[]string{"web-0", "--tail", "0"}, ""},
		{[]string{"web-1"}, "only errors\n"},
		{[]string{"web"}, "web-0 | listening\nweb-0 | warning: slow\nweb-0 | GET /\nweb-0 | GET /a\nweb-0 | error: /a\nweb-0 | GET /b\nweb-1 | only errors\n"},
		{[]string{"web", "--stdout"}, "web-0 | listening\nweb-0 | GET /\nweb-0 | GET /a\nweb-0 | GET /b\n"},
	} {
		if res := logs(t, dir, tt.args...); res.code != 0 || res.stdout != tt.want {
			t.Errorf("logs %q: got %q, want %q\n%v", tt.args, res.stdout, tt.want, res)
		}
	}
	if res := logs(t, dir, "web-0", "--stdout", "--stderr"); res.code != 2 {
		t.Errorf("--stdout --stderr: %v", res)
	}
}

// --timestamps shows when the daemon read each line; --since and
// --since-time keep what came later.
func TestCLILogsTimes(t *testing.T) {
	dir := t.TempDir()
	w := newLogWriter(t, dir, output.FileOptions{})
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	w.at(t0)
	w.write("job-0", "stdout", "old\n")
	w.at(t0.Add(59 * time.Minute))
	w.write("job-0", "stderr", "recent\n")
	w.end()
	stamp := func(t time.Time) string { return t.Format("2006-01-02T15:04:05.000Z") }
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"job-0", "--timestamps"}, stamp(t0) + " old\n" + stamp(t0.Add(59*time.Minute)) + " recent\n"},
		{[]string{"job", "--timestamps"}, "job-0 | " + stamp(t0) + " old\njob-0 | " + stamp(t0.Add(59*time.Minute)) + " recent\n"},
		{[]string{"job-0", "--since", "10m"}, "recent\n"},
		{[]string{"job-0", "--since", "2h"}, "old\nrecent\n"},
		{[]string{"job-0", "--since-time", stamp(t0.Add(time.Minute))}, "recent\n"},
		{[]string{"job-0", "--since-time", stamp(t0)}, "old\nrecent\n"},
		{[]string{"job-0", "--since", "2h", "--tail", "1"}, "recent\n"},
	} {
		if res := logs(t, dir, tt.args...); res.code != 0 || res.stdout != tt.want {
			t.Errorf("logs %q: got %q, want %q\n%v", tt.args, res.stdout, tt.want, res)
		}
	}
	for _, bad := range [][]string{{"job-0", "--since", "1m", "--since-time", stamp(t0)}, {"job-0", "--since-time", "yesterday"}, {"job-0", "--since", "-1m"}} {
		if res := logs(t, dir, bad...); res.code != 2 {
			t.Errorf("logs %q: %v", bad, res)
		}
	}

	// Logs older than the index have no time: "-", and a note.
	legacy := filepath.Join(dir, reconciler.StateDirName, "logs", "old-0.stdout.log")
	if err := os.WriteFile(legacy, []byte("from before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := logs(t, dir, "old-0", "--timestamps")
	if res.code != 0 || res.stdout != "- from before\n" || !strings.Contains(res.stderr, "old-0: no arrival index") {
		t.Errorf("legacy logs --timestamps: %v", res)
	}
	if res := logs(t, dir, "old-0", "--since", "1h"); res.code != 0 || res.stdout != "" {
		t.Errorf("legacy logs --since: %v", res)
	}
}

// --previous prints the run before the running process, or before the last
// run when none runs, as the status file's exits tell; without a status
// (a deleted program), the run before the last one that wrote.
func TestCLILogsPrevious(t *testing.T) {
	dir := t.TempDir()
	w := newLogWriter(t, dir, output.FileOptions{})
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	var exits []status.Exit // newest first
	run := func(at time.Duration, lines ...string) {
		w.at(base.Add(at))
		w.start("api-0")
		for i, l := range lines {
			w.step(time.Millisecond)
			stream := "stdout"
			if i%2 == 1 {
				stream = "stderr"
			}
			w.write("api-0", stream, l+"\n")
		}
	}
	exit := func(at time.Duration) {
		exits = append([]status.Exit{{Code: 1, At: base.Add(at)}}, exits...)
	}
	run(0, "run 1", "run 1 err")
	exit(time.Second)
	run(2*time.Second, "run 2", "run 2 err")
	w.step(time.Millisecond)
	exit(3 * time.Second)
	w.write("api-0", "stdout", "run 2 drained after its exit\n") // read before the next start
	run(4*time.Second, "run 3")
	w.end()
	writeStatus := func(pid int) {
		started := base.Add(4 * time.Second)
		st := status.ProgramStatus{Metadata: status.Metadata{Name: "api"}, Status: status.Status{Phase: "Running",
			Instances: []status.Instance{{Name: "api-0", Index: 0, State: "RUNNING", Pid: pid, StartedAt: &started,
				LastExit: &exits[0], RecentExits: exits}}}}
		if pid == 0 {
			st.Status.Instances[0].State = "BACKOFF"
		}
		if _, err := status.WriteFile(dir, st); err != nil {
			t.Fatal(err)
		}
	}
	writeStatus(4242)
	if res := logs(t, dir, "api-0", "--previous"); res.code != 0 || res.stdout != "run 2\nrun 2 err\nrun 2 drained after its exit\n" {
		t.Errorf("--previous of a running instance: %v", res)
	}
	if res := logs(t, dir, "api-0", "-p", "--stderr"); res.code != 0 || res.stdout != "run 2 err\n" {
		t.Errorf("--previous --stderr: %v", res)
	}
	if res := logs(t, dir, "api-0"); res.code != 0 || !strings.HasPrefix(res.stdout, "run 1\n") || !strings.HasSuffix(res.stdout, "run 3\n") {
		t.Errorf("logs without --previous: every run: %v", res)
	}
	// Run 3 has ended: its run is the last, run 2 the previous.
	exit(5 * time.Second)
	writeStatus(0)
	if res := logs(t, dir, "api", "--previous"); res.code != 0 || res.stdout != "api-0 | run 2\napi-0 | run 2 err\napi-0 | run 2 drained after its exit\n" {
		t.Errorf("--previous of an instance in back-off: %v", res)
	}
	// Deleted: the index alone.
	if err := os.Remove(status.StatusPath(dir, "api")); err != nil {
		t.Fatal(err)
	}
	if res := logs(t, dir, "api-0", "--previous"); res.code != 0 || res.stdout != "run 2\nrun 2 err\nrun 2 drained after its exit\n" {
		t.Errorf("--previous of a deleted program's instance: %v", res)
	}
	if res := logs(t, dir, "api-0", "--previous", "-f"); res.code != 2 {
		t.Errorf("--previous -f: %v", res)
	}
}

// A log file rotated in the middle: the current file's lines keep their
// times and order.
func TestCLILogsMergedAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	w := newLogWriter(t, dir, output.FileOptions{MaxSize: 20, MaxBackups: 1})
	for i, l := range []string{"out 1", "err 1", "out 2", "err 2", "out 3", "err 3", "out 4", "err 4"} {
		w.step(time.Second)
		stream := "stdout"
		if i%2 == 1 {
			stream = "stderr"
		}
		w.write("r-0", stream, l+"\n")
	}
	w.end()
	// Each file holds 3 lines of 6 bytes: out 4 and err 4 are alone in
	// the current files.
	if res := logs(t, dir, "r-0"); res.code != 0 || res.stdout != "out 4\nerr 4\n" {
		t.Errorf("after rotation: %v", res)
	}
	if res := logs(t, dir, "r-0", "--timestamps"); res.code != 0 || res.stdout != "2026-11-22T10:00:07.000Z out 4\n2026-11-22T10:00:08.000Z err 4\n" {
		t.Errorf("after rotation, --timestamps: %v", res)
	}
}

// logs -f of both streams: what the instances write, in arrival order,
// whole lines, a new instance, a rotation.
func TestCLILogsMergedFollow(t *testing.T) {
	dir := t.TempDir()
	w := newLogWriter(t, dir, output.FileOptions{MaxSize: 40, MaxBackups: 1})
	w.write("web-0", "stdout", "before\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCommand()
	out := &cliBuffer{}
	root.SetOut(out)
	root.SetErr(&cliBuffer{})
	root.SetArgs([]string{"--dir", dir, "logs", "web", "-f"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	want := "web-0 | before\n"
	expect := func(add string) {
		t.Helper()
		want += add
		waitfor.Condition(t, cliTimeout, func() bool { return out.String() == want }, "output %q", want)
	}
	expect("")
	w.step(time.Second)
	w.write("web-0", "stderr", "oops\n")
	w.step(time.Second)
	w.write("web-0", "stdout", "part")
	expect("web-0 | oops\n")
	w.write("web-0", "stdout", "ial\n")
	expect("web-0 | partial\n")
	w.step(time.Second)
	w.write("web-1", "stdout", "hello from 1\n")
	expect("web-1 | hello from 1\n")
	w.step(time.Second)
	w.write("web-0", "stdout", strings.Repeat("x", 30)+"\n") // rotates stdout
	w.step(time.Second)
	w.write("web-0", "stderr", "after\n")
	expect("web-0 | " + strings.Repeat("x", 30) + "\nweb-0 | after\n")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("logs -f after cancel: %v", err)
	}
}

// With a real daemon: a program that writes to stdout and stderr in turn
// (each line once the one before is in its file) reads back in that order,
// and --previous shows the run before the running one.
func TestCLILogsDaemon(t *testing.T) {
	d := cliStart(t)
	logDir := filepath.Join(d.dir, reconciler.StateDirName, "logs")
	out, errf := filepath.Join(logDir, "talk-0.stdout.log"), filepath.Join(logDir, "talk-0.stderr.log")
	// wait FILE TEXT: until TEXT is in FILE.
	script := `w() { until grep -q "$2" "$1" 2>/dev/null; do sleep 0.01; done; }; ` +
		`if [ -e ` + filepath.Join(d.dir, "marker") + ` ]; then echo second; exec sleep 60; fi; ` +
		`touch ` + filepath.Join(d.dir, "marker") + `; ` +
		`echo one; w ` + out + ` one; echo two >&2; w ` + errf + ` two; echo three; w ` + out + ` three; echo four >&2; w ` + errf + ` four; exit 1`
	d.write(t, "talk", cliManifest("[/bin/sh, -c, '"+script+"']"))
	waitfor.Condition(t, cliTimeout, func() bool {
		st, ok := d.status("talk")
		b, _ := os.ReadFile(out)
		return ok && len(st.Status.Instances) == 1 && st.Status.Instances[0].Pid > 0 && st.Status.Instances[0].Restarts == 1 &&
			strings.Contains(string(b), "second")
	}, "the second run to be running and to have written")
	if res := d.cli(t, "logs", "talk-0"); res.code != 0 || res.stdout != "one\ntwo\nthree\nfour\nsecond\n" {
		t.Errorf("logs: %v", res)
	}
	if res := d.cli(t, "logs", "talk-0", "--previous"); res.code != 0 || res.stdout != "one\ntwo\nthree\nfour\n" {
		t.Errorf("logs --previous: %v", res)
	}
	if res := d.cli(t, "logs", "talk", "--stderr"); res.code != 0 || res.stdout != "talk-0 | two\ntalk-0 | four\n" {
		t.Errorf("logs --stderr: %v", res)
	}
}
