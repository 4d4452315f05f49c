package output

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// Deadlines generous for a noisy 2-core machine under -race; a passing test
// never waits that long.
const (
	testTimeout = 30 * time.Second
	testPoll    = 5 * time.Millisecond
)

// reports collects a Group's reports.
type reports struct {
	mu   sync.Mutex
	list []Report
}

func (r *reports) add(rep Report) {
	r.mu.Lock()
	r.list = append(r.list, rep)
	r.mu.Unlock()
}

func (r *reports) get() []Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Report(nil), r.list...)
}

func newTestGroup(t *testing.T, o Options) (*Group, *reports) {
	t.Helper()
	rep := &reports{}
	o.Report = rep.add
	g := NewGroup(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		g.Wait(ctx)
		if n := g.Pumps(); n != 0 {
			t.Errorf("%d pumps left", n)
		}
	})
	return g, rep
}

// runChild starts argv with its stdout (and, when merge, its stderr) on a
// new pipe, starts a pump of g on the read end, and returns both.
func runChild(t *testing.T, g *Group, merge bool, argv []string, targets ...Target) (*exec.Cmd, *Pump) {
	t.Helper()
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = w
	if merge {
		cmd.Stderr = w
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, startPump(t, g, r, Source{Program: "t", Instance: "t-0", Stream: "stdout"}, targets...)
}

// startPump starts a pump of g on r, or fails the test.
func startPump(t *testing.T, g *Group, r int, src Source, targets ...Target) *Pump {
	t.Helper()
	p, err := g.Start(r, src, targets...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func waitDone(t *testing.T, p *Pump) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(testTimeout):
		t.Fatal("pump did not end")
	}
}

func fileTarget(t *testing.T, g *Group, path string, o FileOptions) Target {
	t.Helper()
	f, err := g.OpenFile(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Name: path, W: f}
}

// checkSeq checks that the files, oldest first, hold exactly the lines
// 1..n of seq.
func checkSeq(t *testing.T, n int, paths ...string) {
	t.Helper()
	next := 1
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if got := sc.Text(); got != strconv.Itoa(next) {
				f.Close()
				t.Fatalf("%s: line %q, want %d (lost or reordered output)", p, got, next)
			}
			next++
		}
		f.Close()
	}
	if next-1 != n {
		t.Fatalf("%d lines, want %d", next-1, n)
	}
}

// A fast writer loses no line, through rotations, and the daemon-side
// buffer stays one buffer.
func TestPumpFastWriterNoLoss(t *testing.T) {
	if _, err := exec.LookPath("seq"); err != nil {
		t.Skip("no seq")
	}
	g, rep := newTestGroup(t, Options{BufferSize: 64 << 10})
	path := filepath.Join(t.TempDir(), "w.log")
	const n = 2000000 // 14.8 MB
	cmd, p := runChild(t, g, false, []string{"seq", "1", strconv.Itoa(n)},
		fileTarget(t, g, path, FileOptions{MaxSize: 4 << 20, MaxBackups: 10}))
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	checkSeq(t, n, path+".3", path+".2", path+".1", path)
	if exists(path + ".4") {
		t.Errorf("unexpected %s.4", path)
	}
	if r := rep.get(); len(r) != 0 {
		t.Errorf("reports: %v", r)
	}
}

// The last line without a newline is written when the child exits; merged
// stdout and stderr both arrive.
func TestPumpPartialLineAndMerge(t *testing.T) {
	g, _ := newTestGroup(t, Options{})
	path := filepath.Join(t.TempDir(), "w.log")
	var term bytes.Buffer
	tw := NewTerminal(&syncWriter{w: &term}, TerminalOptions{}).Writer("t", "t-0")
	cmd, p := runChild(t, g, true, []string{"sh", "-c", "echo out; echo err >&2; printf 'no newline'"},
		fileTarget(t, g, path, FileOptions{}), Target{Name: "terminal", W: tw, BestEffort: true})
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if got := readFile(t, path); got != "out\nerr\nno newline" {
		t.Errorf("file = %q", got)
	}
	if got := term.String(); got != "t-0 | out\nt-0 | err\nt-0 | no newline\n" {
		t.Errorf("terminal = %q", got)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// gate is a target that blocks until opened, and can fail a number of
// writes first.
type gate struct {
	mu      sync.Mutex
	open    chan struct{}
	failN   int
	failErr error
	calls   int
	buf     bytes.Buffer
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.failN > 0 {
		g.failN--
		// A partial write before the error, as a filling disk does.
		n := min(len(p), 3)
		g.buf.Write(p[:n])
		return n, g.failErr
	}
	return g.buf.Write(p)
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// A slow target blocks the writer: the pipe fills, and what the daemon holds
// is bounded by one buffer, not by what the child writes.
func TestPumpBackPressure(t *testing.T) {
	g, _ := newTestGroup(t, Options{BufferSize: 16 << 10})
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	slow := &gate{open: make(chan struct{})}
	p := startPump(t, g, r, Source{Instance: "t-0", Stream: "stdout"}, Target{Name: "slow", W: slow})
	// Write without blocking until the pipe is full. (Fd puts the file in
	// blocking mode: take it once.)
	fd := int(w.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	capacity, _ := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	line := []byte(strings.Repeat("x", 99) + "\n")
	written := 0
	deadline := time.Now().Add(testTimeout)
	for quiet := 0; quiet < 20; { // full, and still full 20 polls later
		n, err := unix.Write(fd, line)
		if errors.Is(err, unix.EAGAIN) {
			quiet++
			time.Sleep(testPoll) // makes time pass: the pump may still drain the pipe into its buffer; 20 full polls in a row mean it stopped
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		quiet = 0
		written += n
		if time.Now().After(deadline) {
			t.Fatal("the pipe never filled: no back-pressure")
		}
	}
	if limit := capacity + 16<<10; written > limit {
		t.Errorf("wrote %d bytes before blocking, want at most pipe %d + buffer %d", written, capacity, 16<<10)
	}
	close(slow.open)
	w.Close()
	waitDone(t, p)
	if got := len(slow.String()); got != written {
		t.Errorf("target got %d bytes, want %d", got, written)
	}
}

// A failing file target (ENOSPC) is retried, reported once, and reported
// again when it works; nothing is lost or written twice.
func TestPumpRetriesFailingWrites(t *testing.T) {
	g, rep := newTestGroup(t, Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond})
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	disk := &gate{open: make(chan struct{}), failN: 5, failErr: syscall.ENOSPC}
	close(disk.open)
	p := startPump(t, g, r, Source{Instance: "t-0", Stream: "stdout"}, Target{Name: "/x.log", W: disk})
	want := numbered(1, 100)
	if _, err := w.Write([]byte(want)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	waitDone(t, p)
	if got := disk.String(); got != want {
		t.Errorf("target got %q, want %q", got, want)
	}
	r2 := rep.get()
	if len(r2) != 2 || !errors.Is(r2[0].Err, syscall.ENOSPC) || r2[0].Target != "/x.log" || r2[1].Err != nil {
		t.Errorf("reports = %+v, want ENOSPC then resumed", r2)
	}
}

// A best-effort target (the terminal) that fails is dropped and reported;
// the other targets carry on.
func TestPumpBestEffortTarget(t *testing.T) {
	g, rep := newTestGroup(t, Options{})
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	broken := &gate{open: make(chan struct{}), failN: 1 << 30, failErr: syscall.EPIPE}
	close(broken.open)
	good := &gate{open: make(chan struct{})}
	close(good.open)
	p := startPump(t, g, r, Source{Instance: "t-0", Stream: "stdout"},
		Target{Name: "terminal", W: broken, BestEffort: true}, Target{Name: "/x.log", W: good})
	for i := 1; i <= 3; i++ {
		if _, err := w.Write([]byte(numbered(i, i))); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	waitDone(t, p)
	if got := good.String(); got != numbered(1, 3) {
		t.Errorf("file target got %q", got)
	}
	if calls := broken.calls; calls != 1 {
		t.Errorf("broken terminal written %d times, want 1", calls)
	}
	if r := rep.get(); len(r) != 1 || r[0].Target != "terminal" || r[0].Dropped == 0 {
		t.Errorf("reports = %+v", r)
	}
}

// A writer that never closes the pipe (a descendant that escaped) keeps its
// pump alive until Group.Wait's deadline, which aborts it.
func TestGroupWaitAbortsAtDeadline(t *testing.T) {
	g, rep := newTestGroup(t, Options{})
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path := filepath.Join(t.TempDir(), "w.log")
	p := startPump(t, g, r, Source{Instance: "t-0", Stream: "stdout"}, fileTarget(t, g, path, FileOptions{}))
	if _, err := w.Write([]byte("whole\npartial")); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, testTimeout, func() bool { return readFile(t, path) == "whole\n" }, "the whole line")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	g.Wait(ctx)
	select {
	case <-p.Done():
	default:
		t.Fatal("Wait returned with the pump running")
	}
	if r := rep.get(); len(r) != 1 || r[0].Dropped != int64(len("partial")) {
		t.Errorf("reports = %+v, want one dropping 7 bytes", r)
	}
	if _, err := w.Write([]byte("more\n")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write after abort: %v, want EPIPE", err)
	}
}

// Two pumps on one path share one File: lines stay whole and rotation
// happens once per MaxSize.
func TestSharedFile(t *testing.T) {
	if _, err := exec.LookPath("seq"); err != nil {
		t.Skip("no seq")
	}
	g, _ := newTestGroup(t, Options{BufferSize: 4 << 10})
	dir := t.TempDir()
	path := filepath.Join(dir, "shared.log")
	const n = 100000
	var cmds []*exec.Cmd
	var pumps []*Pump
	for _, f := range []string{"a%g", "b%g"} {
		cmd, p := runChild(t, g, false, []string{"seq", "-f", f, "1", strconv.Itoa(n)},
			fileTarget(t, g, path, FileOptions{MaxSize: 256 << 10, MaxBackups: 100}))
		cmds, pumps = append(cmds, cmd), append(pumps, p)
	}
	for i := range cmds {
		if err := cmds[i].Wait(); err != nil {
			t.Fatal(err)
		}
		waitDone(t, pumps[i])
	}
	next := map[byte]int{'a': 1, 'b': 1}
	files := []string{}
	for i := 100; i >= 1; i-- {
		if p := fmt.Sprintf("%s.%d", path, i); exists(p) {
			files = append(files, p)
		}
	}
	files = append(files, path)
	for _, p := range files {
		data := readFile(t, p)
		if len(data) > 256<<10 {
			t.Errorf("%s: %d bytes, past MaxSize", p, len(data))
		}
		for _, l := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
			num, err := strconv.Atoi(l[1:])
			if l == "" || err != nil || num != next[l[0]] {
				t.Fatalf("%s: line %q, want %c%d (cut or lost)", p, l, l[0], next[l[0]])
			}
			next[l[0]]++
		}
	}
	if next['a'] != n+1 || next['b'] != n+1 {
		t.Errorf("lines: a %d, b %d, want %d each", next['a']-1, next['b']-1, n)
	}
	if g.files[filepath.Clean(path)] != nil {
		t.Errorf("shared file still open after both pumps ended")
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory, or skips the
// test when it cannot (not root, no CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// ENOSPC on a real file system: the child blocks on its full pipe (alive),
// the condition is reported, and once there is space again everything is
// written, in order, and the end of the condition reported.
func TestPumpENOSPC(t *testing.T) {
	if _, err := exec.LookPath("seq"); err != nil {
		t.Skip("no seq")
	}
	dir := mountTmpfs(t, 1<<20)
	// Leave about 64 KiB free.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20-64<<10), 0o644); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatal(err)
	}
	g, rep := newTestGroup(t, Options{BufferSize: 16 << 10, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	path := filepath.Join(dir, "w.log")
	const n = 100000 // 589 KB: far more than the free space, the pipe and the buffer
	cmd, p := runChild(t, g, false, []string{"seq", "1", strconv.Itoa(n)}, fileTarget(t, g, path, FileOptions{}))
	waitfor.Condition(t, testTimeout, func() bool {
		r := rep.get()
		return len(r) > 0 && errors.Is(r[0].Err, syscall.ENOSPC)
	}, "the ENOSPC report")
	waitfor.Condition(t, testTimeout, func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/wchan")
		return err == nil && strings.Contains(string(b), "pipe_write")
	}, "the child blocked writing to its pipe")
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	checkSeq(t, n, path)
	r := rep.get()
	if len(r) != 2 || r[1].Err != nil || r[1].Target != path {
		t.Errorf("reports = %+v, want ENOSPC then resumed", r)
	}
}

// TestIdleReadFitsSmallBuffer: a partial line that the pump carries while
// idle, almost as long as a small buffer, followed by more of the line: the
// idle read must not read past what the buffer holds (it once panicked), and
// every byte arrives in order.
func TestIdleReadFitsSmallBuffer(t *testing.T) {
	g, _ := newTestGroup(t, Options{BufferSize: 4 << 10})
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	path := filepath.Join(t.TempDir(), "out.log")
	p := startPump(t, g, r, Source{Program: "p", Instance: "p-0", Stream: "stdout"}, fileTarget(t, g, path, FileOptions{}))
	first := strings.Repeat("a", 4000) // no newline: carried while idle
	if _, err := w.WriteString(first); err != nil {
		t.Fatal(err)
	}
	// Wait until the pump has read it all (the pipe is empty), so that the
	// rest comes to an idle pump that carries the 4000 bytes.
	waitfor.Condition(t, testTimeout, func() bool {
		n, err := unix.IoctlGetInt(int(w.Fd()), unix.TIOCINQ) // FIONREAD
		return err == nil && n == 0
	}, "the pump reads the partial line")
	rest := strings.Repeat("b", 500) + "\n"
	if _, err := w.WriteString(rest); err != nil {
		t.Fatal(err)
	}
	w.Close()
	waitDone(t, p)
	if got := readFile(t, path); got != first+rest {
		t.Errorf("file holds %d bytes, want the %d written in order", len(got), len(first+rest))
	}
}

// closeCounter counts Close calls.
type closeCounter struct {
	bytes.Buffer
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

// Idle pumps cost no goroutine: a pipe nobody writes waits in the epoll set,
// and a pump that has written its lines goes back to waiting there.
func TestIdlePumpsHoldNoGoroutine(t *testing.T) {
	g, _ := newTestGroup(t, Options{})
	const n = 200
	before := runtime.NumGoroutine()
	var ws []*os.File
	var outs []*closeCounter
	for range n {
		r, w, err := Pipe()
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
		out := &closeCounter{}
		outs = append(outs, out)
		startPump(t, g, r, Source{Instance: "t-0", Stream: "stdout"}, Target{Name: "buf", W: out})
	}
	for _, w := range ws {
		if _, err := w.Write([]byte("line\n")); err != nil {
			t.Fatal(err)
		}
	}
	// Every line is written, and the pumps are idle again: at most the
	// set's goroutine is left (plus a few the runtime starts or ends).
	waitfor.Condition(t, testTimeout, func() bool {
		for _, o := range outs {
			if o.closed.Load() != 0 {
				return false
			}
		}
		return runtime.NumGoroutine() <= before+5
	}, "every line written and the pumps idle")
	if got := g.Pumps(); got != n {
		t.Fatalf("%d pumps, want %d", got, n)
	}
	for _, w := range ws {
		w.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	g.Wait(ctx)
	for i, o := range outs {
		if o.String() != "line\n" || o.closed.Load() != 1 {
			t.Fatalf("pump %d: wrote %q, closed %d times", i, o.String(), o.closed.Load())
		}
	}
}

// A pump that cannot watch its fd fails to start, and closes the fd and its
// targets all the same: the caller owns nothing after Start.
func TestStartFailureClosesEverything(t *testing.T) {
	g, _ := newTestGroup(t, Options{})
	// epoll refuses regular files (EPERM).
	fd, err := unix.Open(filepath.Join(t.TempDir(), "f"), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	out := &closeCounter{}
	if _, err := g.Start(fd, Source{Instance: "t-0", Stream: "stdout"}, Target{Name: "buf", W: out}); err == nil {
		t.Fatal("Start on a regular file: no error")
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd still open after a failed Start (%v)", err)
	}
	if out.closed.Load() != 1 {
		t.Errorf("target closed %d times, want 1", out.closed.Load())
	}
	if n := g.Pumps(); n != 0 {
		t.Errorf("%d pumps after a failed Start", n)
	}
}

// Group.Wait past its deadline aborts every pump, including one whose Start
// is under way: none may be left unowned (idle, aborted and never ended).
func TestAbortDuringStart(t *testing.T) {
	g, _ := newTestGroup(t, Options{})
	done := make(chan struct{})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	go func() {
		defer close(done)
		for range 2000 {
			r, w, err := Pipe()
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := g.Start(r, Source{Instance: "t-0", Stream: "stdout"}, Target{Name: "buf", W: io.Discard}); err != nil {
				t.Error(err)
			}
			defer w.Close() // silent writers that keep their pipes open
		}
	}()
	for {
		g.Wait(cancelled) // aborts whatever runs, and must return
		select {
		case <-done:
			g.Wait(cancelled)
			if n := g.Pumps(); n != 0 {
				t.Fatalf("%d pumps left after Wait", n)
			}
			return
		default:
		}
	}
}

// stingyTarget takes up to n bytes per call, then fails with ENOSPC.
type stingyTarget struct {
	mu  sync.Mutex
	got []byte
	n   int
}

func (s *stingyTarget) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return 0, syscall.ENOSPC
	}
	k := min(len(p), s.n)
	s.got = append(s.got, p[:k]...)
	s.n -= k
	return k, syscall.ENOSPC
}

// An abort reports as dropped what a target did not get, not what other
// targets, or this one, already took.
func TestAbortCountsOnlyWhatWasLost(t *testing.T) {
	g, rep := newTestGroup(t, Options{RetryMin: time.Hour})
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ok := &closeCounter{}
	full := &stingyTarget{n: 9}
	p := startPump(t, g, r, Source{Instance: "t-0", Stream: "stdout"}, Target{Name: "ok", W: ok}, Target{Name: "full", W: full})
	if _, err := w.Write([]byte("hello world\n")); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, testTimeout, func() bool { return len(rep.get()) == 1 }, "the failure reported")
	p.Abort()
	waitDone(t, p)
	r2 := rep.get()
	if len(r2) != 2 || r2[1].Dropped != 3 {
		t.Fatalf("reports = %+v, want the abort to drop 3 bytes (ok took 12, full 9)", r2)
	}
	if ok.String() != "hello world\n" || string(full.got) != "hello wor" {
		t.Errorf("ok got %q, full got %q", ok.String(), full.got)
	}
}

// A lazy log file is created at the first write only: a pump whose child
// wrote nothing leaves no file, one that writes gets it (through the Group's
// shared files), and a path that cannot be opened is a failing write,
// retried until it can.
func TestLazyFile(t *testing.T) {
	g, rep := newTestGroup(t, Options{RetryMin: time.Millisecond, RetryMax: 4 * time.Millisecond})
	dir := t.TempDir()
	quiet := filepath.Join(dir, "quiet.log")
	cmd, p := runChild(t, g, false, []string{"true"}, Target{Name: quiet, W: g.LazyFile(quiet, FileOptions{})})
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if exists(quiet) {
		t.Errorf("%s exists: nothing was written", quiet)
	}

	// The directory is missing (and not to be created) until after the
	// first write failed.
	loud := filepath.Join(dir, "later", "loud.log")
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p = startPump(t, g, r, Source{Instance: "t-1", Stream: "stdout"}, Target{Name: loud, W: g.LazyFile(loud, FileOptions{})})
	if _, err := w.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, testTimeout, func() bool { return len(rep.get()) > 0 }, "the failing open to be reported")
	if r := rep.get()[0]; !errors.Is(r.Err, fs.ErrNotExist) || r.Target != loud {
		t.Errorf("report %+v, want %s: not exist", r, loud)
	}
	if err := os.Mkdir(filepath.Dir(loud), 0o755); err != nil {
		t.Fatal(err)
	}
	w.Close()
	waitDone(t, p)
	if got := readFile(t, loud); got != "hello\n" {
		t.Errorf("%s holds %q, want the line", loud, got)
	}
	if n := len(g.files); n != 0 {
		t.Errorf("%d shared files still open after the pumps ended", n)
	}

	// An AutoLog target has no name of its own: reports name its path.
	r, w, err = Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")
	auto := filepath.Join(logs, LogName("t-2", "stdout"))
	p = startPump(t, g, r, Source{Instance: "t-2", Stream: "stdout"}, Target{W: g.AutoLog(logs, "t-2", "stdout", FileOptions{})})
	if _, err := w.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, testTimeout, func() bool { return len(rep.get()) > 2 }, "the failing open to be reported")
	if r := rep.get()[2]; !errors.Is(r.Err, fs.ErrNotExist) || r.Target != auto {
		t.Errorf("report %+v, want %s: not exist", r, auto)
	}
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	w.Close()
	waitDone(t, p)
	if got := readFile(t, auto); got != "hi\n" {
		t.Errorf("%s holds %q, want the line", auto, got)
	}
}

// A pipe that hangs up empty while the pump carries a partial line still
// gets that line written: only a pump with nothing in hand ends on the
// hang-up without reading (HungUp).
func TestHangupWritesCarriedLine(t *testing.T) {
	g, _ := newTestGroup(t, Options{})
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.log")
	p := startPump(t, g, r, Source{Program: "p", Instance: "p-0", Stream: "stdout"}, fileTarget(t, g, path, FileOptions{}))
	if _, err := w.WriteString("tail"); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, testTimeout, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.state == pumpIdle && p.carry != nil && len(*p.carry) == 4
	}, "the pump idle, carrying the partial line")
	w.Close()
	waitDone(t, p)
	if got := readFile(t, path); got != "tail" {
		t.Errorf("file = %q, want the carried line", got)
	}
}
