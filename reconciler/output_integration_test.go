package reconciler

// Integration tests of output targets, attach and exit policies: the real
// daemon, real processes. Helpers from integration_test.go (prefix "it").

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// itRun is one RunDaemon with options of the test's choosing, whose return
// the test may wait for (exit policies end it by themselves).
type itRun struct {
	t      *testing.T
	dir    string
	out    string // the daemon's Stdout (a file), for inherit and attach
	log    *itLogBuf
	cancel context.CancelFunc
	done   chan error

	mu    sync.Mutex
	names []string
	ended bool
	err   error
}

// itRunWith starts RunDaemon(o) with o.Dir a temp directory, Stdout a file,
// and at cleanup stops it if needed and checks that no process is left.
func itRunWith(t *testing.T, o DaemonOptions) *itRun {
	t.Helper()
	itDaemonMu.Lock()
	r := &itRun{t: t, dir: t.TempDir(), log: &itLogBuf{}, done: make(chan error, 1)}
	r.out = filepath.Join(t.TempDir(), "stdout")
	out, err := os.Create(r.out)
	if err != nil {
		itDaemonMu.Unlock()
		t.Fatal(err)
	}
	o.Dir, o.Stdout, o.Stderr, o.Log = r.dir, out, out, r.log.logger(1)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- RunDaemon(ctx, o) }()
	t.Cleanup(func() {
		defer itDaemonMu.Unlock()
		cancel()
		if _, ok := r.wait(); !ok {
			t.Errorf("RunDaemon did not return within %v of its context being cancelled", waitTimeout)
		}
		out.Close()
		if left := itKillPrograms(r.names...); len(left) > 0 {
			t.Errorf("processes left running after the daemon returned: %v", left)
		}
		if t.Failed() {
			t.Logf("daemon log (tail):\n%s", itTail(r.log.String(), 100))
		}
	})
	return r
}

// wait waits for RunDaemon to return (by itself, or after cancel) and
// returns its error; false when it did not within waitTimeout.
func (r *itRun) wait() (error, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return r.err, true
	}
	select {
	case r.err = <-r.done:
		r.ended = true
		return r.err, true
	case <-time.After(waitTimeout):
		return nil, false
	}
}

// write places a manifest and remembers the name for the leftover check.
func (r *itRun) write(name, content string) {
	r.mu.Lock()
	r.names = append(r.names, name)
	r.mu.Unlock()
	itWrite(r.t, r.dir, name, content)
}

func (r *itRun) logPath(instance, stream string) string {
	return filepath.Join(r.dir, StateDirName, "logs", instance+"."+stream+".log")
}

// itWaitFile waits until path's content satisfies cond and returns it. A
// log may be megabytes that the daemon is still writing: it is read at most
// every 100ms, not to take the CPU from the writer.
func itWaitFile(t *testing.T, path string, cond func(string) bool) string {
	t.Helper()
	var s string
	if !waitfor.UntilEvery(waitTimeout, 100*time.Millisecond, func() bool {
		b, err := os.ReadFile(path)
		s = string(b)
		return err == nil && cond(s)
	}) {
		t.Fatalf("%s: timed out; content %q", path, itTail(s, 5))
	}
	return s
}

func itEquals(want string) func(string) bool { return func(s string) bool { return s == want } }

// Every target: merge, null, inherit, $(VAR) paths, rotation, and a log
// that cannot be opened.
func TestITOutputTargets(t *testing.T) {
	r := itRunWith(t, DaemonOptions{})
	job := func(cmd string, fields ...string) string {
		return itSpec(fmt.Sprintf("[sh, -c, %q]", cmd), append([]string{"restartPolicy: Never", "startSeconds: 0s"}, fields...)...)
	}
	r.write("merge", job("echo out; echo err >&2; printf tail", "stderr: stdout"))
	r.write("split", job("echo out; echo err >&2"))
	r.write("quiet", job("echo out; echo err >&2", "stdout: null", "stderr: null"))
	r.write("inh", job("echo inherited-$RECONCILED_INSTANCE", "stdout: inherit"))
	r.write("vars", job("echo i=$RECONCILED_INSTANCE", "replicas: 2", `stdout: {file: "worker-$(RECONCILED_INSTANCE).log"}`))
	rot := filepath.Join(t.TempDir(), "rot.log")
	r.write("rot", job("seq -w 1 3000", fmt.Sprintf("stdout: {file: %q, maxSize: 1KiB, maxBackups: 2}", rot))) // 5-byte lines
	r.write("broken", job("echo never", `stdout: {file: /nonexistent/dir/x.log}`))
	r.write("silent", job("echo err >&2")) // stdout: auto, never written

	itWaitFile(t, r.logPath("merge-0", "stdout"), itEquals("out\nerr\ntail"))
	if _, err := os.Stat(r.logPath("merge-0", "stderr")); !os.IsNotExist(err) {
		t.Errorf("merged stderr has a file of its own: %v", err)
	}
	itWaitFile(t, r.logPath("split-0", "stdout"), itEquals("out\n"))
	itWaitFile(t, r.logPath("split-0", "stderr"), itEquals("err\n"))
	itWaitFile(t, r.logPath("silent-0", "stderr"), itEquals("err\n"))
	itWaitFile(t, r.out, func(s string) bool { return strings.Contains(s, "inherited-0\n") })
	itWaitFile(t, filepath.Join(r.dir, "worker-0.log"), itEquals("i=0\n"))
	itWaitFile(t, filepath.Join(r.dir, "worker-1.log"), itEquals("i=1\n"))

	// Rotation: 15000 bytes through 1 KiB files; the last three are kept,
	// whole lines each, ending with the last line.
	itWaitFile(t, rot, func(s string) bool { return strings.HasSuffix(s, "3000\n") })
	var lines []string
	for _, p := range []string{rot + ".2", rot + ".1", rot} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1024 || len(b)%5 != 0 {
			t.Errorf("%s: %d bytes: past maxSize or a cut line", p, len(b))
		}
		lines = append(lines, strings.Fields(string(b))...)
	}
	if _, err := os.Stat(rot + ".3"); !os.IsNotExist(err) {
		t.Errorf("more than maxBackups kept: %v", err)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%04d", 3001-len(lines)+i); l != want {
			t.Fatalf("line %d = %q, want %q: lost or reordered", i, l, want)
		}
	}

	// A log that cannot be opened: a clear message, not a silent drop.
	st := itWaitStatus(t, r.dir, "broken", "the start failure", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return ok && in.State == string(Exited)
	})
	in, _ := itInstance(st, 0)
	if want := "start failed: open stdout log: open /nonexistent/dir/x.log: no such file or directory"; !strings.Contains(in.Message, want) {
		t.Errorf("message %q does not say %q", in.Message, want)
	}
	// An auto log is created with the first output: silent-0 wrote none
	// to stdout (its process has ended, so none will come).
	itWaitStatus(t, r.dir, "silent", "silent-0 to exit", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return ok && in.State == string(Exited)
	})
	for _, name := range []string{"quiet-0.stdout.log", "quiet-0.stderr.log", "inh-0.stdout.log", "silent-0.stdout.log"} {
		if _, err := os.Stat(filepath.Join(r.dir, StateDirName, "logs", name)); !os.IsNotExist(err) {
			t.Errorf("%s exists: %v", name, err)
		}
	}
}

// A fast writer loses no line: 2,000,000 numbered lines arrive in order.
func TestITFastWriterNoLoss(t *testing.T) {
	r := itRunWith(t, DaemonOptions{})
	const n = 2000000
	r.write("fast", itSpec(fmt.Sprintf("[seq, \"1\", \"%d\"]", n), "restartPolicy: Never", "startSeconds: 0s"))
	path := r.logPath("fast-0", "stdout")
	itWaitFile(t, path, func(s string) bool { return strings.HasSuffix(s, "\n"+strconv.Itoa(n)+"\n") })
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	next := 1
	for sc.Scan() {
		if sc.Text() != strconv.Itoa(next) {
			t.Fatalf("line %d is %q: lost or reordered output", next, sc.Text())
		}
		next++
	}
	if next-1 != n {
		t.Errorf("%d lines, want %d", next-1, n)
	}
}

// Attach: every line of every instance, prefixed, whole, in the daemon's
// stdout; the log files get them unprefixed.
func TestITAttach(t *testing.T) {
	r := itRunWith(t, DaemonOptions{Attach: true, Timestamps: true})
	const n = 2000
	job := func(cmd string, fields ...string) string {
		return itSpec(fmt.Sprintf("[sh, -c, %q]", cmd), append([]string{"restartPolicy: Never", "startSeconds: 0s"}, fields...)...)
	}
	r.write("web", job(fmt.Sprintf("seq -f 'web line %%g' 1 %d; printf 'last words'", n), "replicas: 2"))
	r.write("worker", job(fmt.Sprintf("seq -f 'worker line %%g' 1 %d >&2", n), "stdout: inherit", "stderr: stdout"))
	r.write("silent", job("echo hidden", "stdout: null"))
	want := map[string]int{"web-0": n + 1, "web-1": n + 1, "worker-0": n}
	re := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d\d\d (web-0|web-1|worker-0) +\| (.*)$`)
	var out string
	if !waitfor.Until(waitTimeout, func() bool {
		b, _ := os.ReadFile(r.out)
		out = string(b)
		got := map[string]int{}
		for _, l := range strings.Split(out, "\n") {
			if m := re.FindStringSubmatch(l); m != nil {
				got[m[1]]++
			}
		}
		return fmt.Sprint(got) == fmt.Sprint(want)
	}) {
		t.Fatalf("attach output incomplete; tail:\n%s", itTail(out, 10))
	}
	seen := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			if strings.Contains(l, "hidden") || strings.Contains(l, " line ") {
				t.Fatalf("mangled line %q", l)
			}
			continue // not an instance's line
		}
		inst, text := m[1], m[2]
		seen[inst]++
		prog := strings.TrimSuffix(strings.TrimSuffix(inst, "-0"), "-1")
		if text == "last words" && inst != "worker-0" && seen[inst] == n+1 {
			continue
		}
		if want := fmt.Sprintf("%s line %d", prog, seen[inst]); text != want {
			t.Fatalf("%s line %d is %q, want %q (out of order or cut)", inst, seen[inst], text, want)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Error("stdout: null was attached")
	}
	if s := itWaitFile(t, r.logPath("web-1", "stdout"), func(s string) bool { return strings.HasSuffix(s, "last words") }); !strings.HasPrefix(s, "web line 1\n") {
		t.Errorf("log file %q... is prefixed", s[:20])
	}
}

// --- exit policies ---

func itJob(cmd string, fields ...string) string {
	return itSpec(fmt.Sprintf("[sh, -c, %q]", cmd), append([]string{"startSeconds: 0s"}, fields...)...)
}

// itExitCode waits for RunDaemon to return by itself and returns the exit
// code it asks for (0 for nil).
func itExitCode(t *testing.T, r *itRun) (int, *ExitCodeError) {
	t.Helper()
	err, ok := r.wait()
	if !ok {
		t.Fatalf("RunDaemon did not end by itself within %v", waitTimeout)
	}
	if err == nil {
		return 0, nil
	}
	var ec *ExitCodeError
	if !errors.As(err, &ec) {
		t.Fatalf("RunDaemon: %v, want an *ExitCodeError", err)
	}
	return ec.Code, ec
}

func TestITExitOnFailure(t *testing.T) {
	cases := []struct {
		name, cmd string
		code      int
		how       string
	}{
		{"code", "echo bye; exit 3", 3, "exited with code 3"},
		{"signal", "kill -KILL $$$$", 128 + 9, "killed by signal KILL"},
		{"success", "exit 0", 0, "exited with code 0"}, // vagga: any end stops everything
		{"not found", "", 127, "exited with code 127"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := itRunWith(t, DaemonOptions{ExitOn: ExitOnFailure, Attach: true})
			r.write("server", itSpec(`["sleep", "1000"]`))
			itWaitStatus(t, r.dir, "server", "running", itReady(1))
			job := itJob("sleep 0.2; "+c.cmd, "restartPolicy: Always") // Always: it ends anyway
			if c.cmd == "" {
				job = itSpec(`["/nonexistent/program"]`)
			}
			r.write("job", job)
			code, ec := itExitCode(t, r)
			if code != c.code || ec == nil || ec.Instance != "job-0" || ec.How != c.how {
				t.Fatalf("exit %d (%v), want %d from job-0 %q", code, ec, c.code, c.how)
			}
			// Everything was stopped, and the output is complete.
			if evs := itEvents(t, r.dir, "server"); itCount(evs, "Stopped", "server-0") != 1 {
				t.Errorf("server not stopped:\n%s", itEventsString(evs))
			}
			if c.name == "code" {
				if b, _ := os.ReadFile(r.out); !strings.Contains(string(b), "job-0    | bye\n") {
					t.Errorf("attach output lacks the job's last line:\n%s", b)
				}
			}
		})
	}
}

func TestITExitAllSucceeded(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		r := itRunWith(t, DaemonOptions{ExitOn: ExitAllSucceeded})
		r.write("migrate", itJob("exit 0", "replicas: 2"))
		r.write("build", itJob("sleep 0.3", "restartPolicy: Always")) // not restarted
		code, ec := itExitCode(t, r)
		if code != 0 || ec != nil {
			t.Fatalf("exit %d (%v), want 0", code, ec)
		}
		if evs := itEvents(t, r.dir, "build"); itCount(evs, "Started", "build-0") != 1 {
			t.Errorf("build restarted:\n%s", itEventsString(evs))
		}
	})
	t.Run("one fails", func(t *testing.T) {
		r := itRunWith(t, DaemonOptions{ExitOn: ExitAllSucceeded})
		r.write("ok", itJob("exit 0"))
		r.write("server", itSpec(`["sleep", "1000"]`))
		itWaitStatus(t, r.dir, "ok", "exited 0", func(st status.ProgramStatus) bool {
			in, ok := itInstance(st, 0)
			return ok && in.State == string(Exited)
		})
		r.write("bad", itJob("exit 4"))
		code, ec := itExitCode(t, r)
		if code != 4 || ec == nil || ec.Instance != "bad-0" {
			t.Fatalf("exit %d (%v), want 4 from bad-0", code, ec)
		}
	})
	t.Run("signal", func(t *testing.T) {
		r := itRunWith(t, DaemonOptions{ExitOn: ExitAllSucceeded})
		r.write("term", itJob("kill -TERM $$$$")) // $$ is a literal $ in a manifest
		if code, ec := itExitCode(t, r); code != 128+15 {
			t.Fatalf("exit %d (%v), want 143", code, ec)
		}
	})
	t.Run("invalid manifest", func(t *testing.T) {
		r := itRunWith(t, DaemonOptions{ExitOn: ExitAllSucceeded})
		r.write("typo", "spec:\n  comand: [true]\n")
		code, ec := itExitCode(t, r)
		if code != 1 || ec == nil || !strings.Contains(ec.How, "invalid manifest") {
			t.Fatalf("exit %d (%v), want 1 for the invalid manifest", code, ec)
		}
	})
}

// A full disk: the instance keeps running (blocked on its pipe), a
// LogWriteFailed event says so, and once there is space again the output
// is written whole and LogWriteResumed says so.
func TestITLogDiskFull(t *testing.T) {
	fs := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(fs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", fs, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(fs, unix.MNT_DETACH) })
	filler := filepath.Join(fs, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20-64<<10), 0o644); err != nil && !errors.Is(err, unix.ENOSPC) {
		t.Fatal(err)
	}
	r := itRunWith(t, DaemonOptions{})
	const n = 120000 // 710 KB: more than the space left, the pipe and the buffer; less than the tmpfs
	log := filepath.Join(fs, "full.log")
	r.write("full", itSpec(fmt.Sprintf(`["sh", "-c", "seq 1 %d; exec sleep 1000"]`, n), "startSeconds: 0s",
		fmt.Sprintf("stdout: {file: %q, maxSize: 0}", log)))
	itWaitEvents(t, r.dir, "full", "LogWriteFailed", itHasReason("LogWriteFailed", "full-0"))
	st := itWaitStatus(t, r.dir, "full", "still running", itReady(1))
	if evs := itEvents(t, r.dir, "full"); itCount(evs, "Exited", "*") != 0 {
		t.Fatalf("the instance ended:\n%s", itEventsString(evs))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	itWaitEvents(t, r.dir, "full", "LogWriteResumed", itHasReason("LogWriteResumed", "full-0"))
	itWaitFile(t, log, func(s string) bool { return strings.HasSuffix(s, "\n"+strconv.Itoa(n)+"\n") })
	b, _ := os.ReadFile(log)
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("line %d = %q: lost or reordered", i+1, l)
		}
	}
	if now := itWaitStatus(t, r.dir, "full", "running", itReady(1)); itPids(now)[0] != itPids(st)[0] {
		t.Error("the instance was restarted")
	}
	evs := itEvents(t, r.dir, "full")
	for _, ev := range evs {
		if ev.Reason == "LogWriteFailed" && (ev.Type != status.EventWarning || !strings.Contains(ev.Message, "no space left on device")) {
			t.Errorf("event %+v", ev)
		}
	}
}
