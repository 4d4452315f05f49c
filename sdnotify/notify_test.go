package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
)

const waitTimeout = 10 * time.Second

// socket is systemd's end of the protocol: a unixgram socket named by
// NOTIFY_SOCKET for the test.
type socket struct {
	t    *testing.T
	conn *net.UnixConn
}

func listen(t *testing.T) *socket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &socket{t: t, conn: conn}
}

// recv returns the next datagram, failing the test after waitTimeout.
func (s *socket) recv() string {
	s.t.Helper()
	buf := make([]byte, 4096)
	_ = s.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	n, err := s.conn.Read(buf)
	if err != nil {
		s.t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}

// none fails the test if a datagram is waiting. A datagram is queued
// before the sender's write returns, so whatever was sent before the
// caller's last synchronisation point is seen.
func (s *socket) none() {
	s.t.Helper()
	buf := make([]byte, 4096)
	_ = s.conn.SetReadDeadline(time.Now())
	if n, err := s.conn.Read(buf); err == nil {
		s.t.Fatalf("unexpected notification %q", buf[:n])
	}
}

// source is a Source the test drives.
type source struct {
	ready, changed chan struct{}
	mu             sync.Mutex
	summary        string
}

func newSource(summary string) *source {
	return &source{ready: make(chan struct{}), changed: make(chan struct{}, 1), summary: summary}
}

func (s *source) ReadyC() <-chan struct{}  { return s.ready }
func (s *source) Changed() <-chan struct{} { return s.changed }
func (s *source) Summary() string          { s.mu.Lock(); defer s.mu.Unlock(); return s.summary }
func (s *source) set(summary string)       { s.mu.Lock(); s.summary = summary; s.mu.Unlock(); s.mark() }
func (s *source) mark() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// logBuf collects log lines.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (b *logBuf) add(prefix, args string) {
	b.mu.Lock()
	b.lines = append(b.lines, prefix+" "+args)
	b.mu.Unlock()
}
func (b *logBuf) count(sub string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

func start(t *testing.T, n *Notifier, src Source, alive func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx, src, alive) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitPending waits until the fake clock has want timers armed.
func waitPending(t *testing.T, fc *fakeclock.Clock, want int) {
	t.Helper()
	waitfor.Condition(t, waitTimeout, func() bool { return fc.Pending() == want }, "%d timers armed (have %d)", want, fc.Pending())
}

var monotonic = regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=[0-9]+\nSTATUS=`)

// TestProtocol runs the messages of a daemon's life against a real
// unixgram socket: READY=1, rate-limited STATUS=, a reload, the stop.
func TestProtocol(t *testing.T) {
	sock := listen(t)
	t.Setenv("WATCHDOG_USEC", "")
	fc := fakeclock.New()
	n := New(Options{Clock: fc, Log: funcr.New(func(p, a string) { t.Log(p, a) }, funcr.Options{})})
	src := newSource("2 programs, 0/3 ready")
	start(t, n, src, nil)

	var transcript []string
	got := func() string {
		t.Helper()
		msg := sock.recv()
		transcript = append(transcript, msg)
		return msg
	}
	n.Reloading() // before READY=1: only the rescan happens
	close(src.ready)
	if msg := got(); msg != "READY=1\nSTATUS=2 programs, 0/3 ready" {
		t.Fatalf("first message %q, want READY=1 with STATUS=", msg)
	}
	// Changes within a second of the last STATUS= wait for the second
	// to pass, and only the latest is sent.
	src.set("2 programs, 2/3 ready")
	waitPending(t, fc, 1)
	src.set("2 programs, 3/3 ready")
	sock.none()
	fc.Step(time.Second)
	if msg := got(); msg != "STATUS=2 programs, 3/3 ready" {
		t.Fatalf("after a second: %q, want the latest STATUS=", msg)
	}
	// A change a second later goes out at once.
	fc.Step(time.Second)
	src.set("2 programs, 2/3 ready, 1 failed")
	if msg := got(); msg != "STATUS=2 programs, 2/3 ready, 1 failed" {
		t.Fatalf("STATUS= after a quiet second: %q", msg)
	}

	// SIGHUP: RELOADING=1 with MONOTONIC_USEC=, READY=1 once a pass
	// begun since has ended; an older pass does not count.
	n.Reloading()
	if msg := got(); !monotonic.MatchString(msg) {
		t.Fatalf("reload: %q, want RELOADING=1, MONOTONIC_USEC=, STATUS=", msg)
	}
	n.Passed(fc.Now().Add(-time.Millisecond))
	sock.none()
	n.Passed(fc.Now())
	if msg := got(); !strings.HasPrefix(msg, "READY=1\nSTATUS=") {
		t.Fatalf("after the rescan: %q, want READY=1", msg)
	}

	src.set("stopping: 3 instances left")
	n.Stopping()
	if msg := got(); msg != "STOPPING=1\nSTATUS=stopping: 3 instances left" {
		t.Fatalf("stop: %q, want STOPPING=1 and the summary", msg)
	}
	n.Reloading() // ignored once stopping
	src.set("stopping: 1 instances left")
	waitPending(t, fc, 1)
	fc.Step(time.Second)
	if msg := got(); msg != "STATUS=stopping: 1 instances left" {
		t.Fatalf("while stopping: %q, want STATUS=", msg)
	}
	sock.none()
	t.Logf("transcript:\n%s", strings.Join(transcript, "\n--\n"))
}

// TestWatchdog: WATCHDOG=1 every WATCHDOG_USEC/2 while the loop answers;
// none while it does not; again once it does; unchecked while stopping.
func TestWatchdog(t *testing.T) {
	sock := listen(t)
	t.Setenv("WATCHDOG_USEC", "4000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	fc := fakeclock.New()
	logs := &logBuf{}
	n := New(Options{Clock: fc, Log: funcr.New(logs.add, funcr.Options{})})
	if n.Watchdog() != 4*time.Second {
		t.Fatalf("Watchdog() = %v, want 4s", n.Watchdog())
	}
	var mu sync.Mutex
	wedged := false
	alive := func(ctx context.Context) error {
		mu.Lock()
		w := wedged
		mu.Unlock()
		if w {
			<-ctx.Done()
			return fmt.Errorf("the loop did not answer: %w", ctx.Err())
		}
		return nil
	}
	setWedged := func(w bool) { mu.Lock(); wedged = w; mu.Unlock() }
	src := newSource("")
	start(t, n, src, alive)

	tick := func() { // the next half period
		t.Helper()
		waitPending(t, fc, 1)
		fc.Step(2 * time.Second)
	}
	setWedged(true)
	tick() // before READY=1: unchecked
	if msg := sock.recv(); msg != "WATCHDOG=1" {
		t.Fatalf("ping before READY=1 %q, want WATCHDOG=1", msg)
	}
	setWedged(false)
	close(src.ready)
	if msg := sock.recv(); !strings.HasPrefix(msg, "READY=1") {
		t.Fatalf("%q, want READY=1", msg)
	}
	for range 2 {
		tick()
		if msg := sock.recv(); msg != "WATCHDOG=1" {
			t.Fatalf("ping %q, want WATCHDOG=1", msg)
		}
	}
	setWedged(true)
	for i := 1; i <= 3; i++ {
		tick()
		waitPending(t, fc, 1) // the deadline of the loop's answer
		fc.Step(time.Second)
		waitfor.Condition(t, waitTimeout, func() bool { return logs.count("did not answer") == i }, "missed ping %d logged", i)
		sock.none()
	}
	setWedged(false)
	tick()
	if msg := sock.recv(); msg != "WATCHDOG=1" {
		t.Fatalf("after the loop came back: %q, want WATCHDOG=1", msg)
	}
	setWedged(true)
	n.Stopping()
	if msg := sock.recv(); !strings.HasPrefix(msg, "STOPPING=1") {
		t.Fatalf("%q, want STOPPING=1", msg)
	}
	tick()
	if msg := sock.recv(); msg != "WATCHDOG=1" {
		t.Fatalf("while stopping: %q, want WATCHDOG=1 without asking the loop", msg)
	}
}

// TestWatchdogOtherPid: a WATCHDOG_PID of another process means no
// watchdog for this one.
func TestWatchdogOtherPid(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "4000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if wd := New(Options{}).Watchdog(); wd != 0 {
		t.Errorf("Watchdog() = %v for another pid, want 0", wd)
	}
}
