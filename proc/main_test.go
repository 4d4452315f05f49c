package proc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// testStarter is the one Starter of the test binary (one per process: two
// reapers would reap each other's leaders). Its reaper runs for all tests.
var testStarter *Starter

// testPath is the PATH given to test processes.
var testPath = "PATH=" + os.Getenv("PATH")

// helperEnv makes the test binary act as a mini-daemon (see runHelper).
const helperEnv = "PROC_TEST_HELPER"

func TestMain(m *testing.M) {
	MaybeRunShim()
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	if err := BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testStarter = NewStarter(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		testStarter.Run(ctx)
		close(stopped)
	}()
	code := m.Run()
	cancel()
	<-stopped
	os.Exit(code)
}

// runHelper is a mini-daemon for the parent-death test: it starts `sleep 1000`,
// prints its pid and waits to be killed. mode "shim" starts it through the exec
// shim (with a credential when root), "direct" without. The close modes run
// TestStarterClose's child (runCloseHelper).
func runHelper(mode string) int {
	if mode == closeServer || mode == closeThreads {
		return runCloseHelper(mode)
	}
	s := NewStarter(logr.Discard())
	spec := Spec{Argv: []string{"sleep", "1000"}, Env: []string{testPath}}
	if mode == "shim" {
		umask := uint32(0o22)
		spec.Umask = &umask
		if os.Geteuid() == 0 {
			cred, _, err := LookupUser("nobody", "")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			spec.Credential = &cred
		}
	}
	p, err := s.Start(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(p.Pid())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	<-ch
	return 0
}

// start starts spec with testStarter and makes sure, at the end of the test,
// that its whole group is killed, waited for and released.
func start(t *testing.T, spec Spec) *Process {
	t.Helper()
	if spec.Env == nil {
		spec.Env = []string{testPath}
	}
	p, err := testStarter.Start(spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { cleanup(t, p) })
	return p
}

func cleanup(t *testing.T, p *Process) {
	_ = p.SignalGroup(syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitGroupEmpty(ctx); err != nil {
		t.Errorf("cleanup pid %d: %v", p.Pid(), err)
	}
	if err := p.Release(); err != nil {
		t.Errorf("cleanup pid %d: %v", p.Pid(), err)
	}
}

// testCtx is a context that ends with a deadline failure well before the test
// binary's timeout.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pipe returns a pipe whose write end goes to a child; the parent's copy of the
// write end is closed at cleanup or by closeW.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// readLines reads n lines from r within 10s.
func readLines(t *testing.T, r *os.File, n int) []string {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(r)
	var lines []string
	for len(lines) < n {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read line %d: %v (got %q)", len(lines)+1, err, lines)
		}
		lines = append(lines, strings.TrimSuffix(l, "\n"))
	}
	return lines
}

// readAllOutput closes the parent's write end and reads r to EOF within 10s.
func readAllOutput(t *testing.T, r, w *os.File) string {
	t.Helper()
	w.Close()
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read output: %v (got %q)", err, b)
	}
	return string(b)
}

// waitTimeout bounds every wait of these tests for an outcome. It is
// generous, for a loaded machine under -race: a passing test never waits
// that long.
const waitTimeout = 20 * time.Second

// alive reports whether the process pid that started at ticks still runs (not
// a zombie or being reaped, and not a newcomer with the same pid).
func alive(pid int, ticks uint64) bool {
	st, err := readStat(pid)
	return err == nil && st.startTicks == ticks && !st.dead()
}

// startTicksOf returns the start ticks of a live pid.
func startTicksOf(t *testing.T, pid int) uint64 {
	t.Helper()
	st, err := readStat(pid)
	if err != nil {
		t.Fatalf("stat %d: %v", pid, err)
	}
	return st.startTicks
}

// killLater makes sure a process found by the test is gone at cleanup.
func killLater(t *testing.T, pid int) {
	ticks := startTicksOf(t, pid)
	t.Cleanup(func() {
		_ = killVerified(pid, func(st procStat) bool { return st.startTicks == ticks })
	})
}

// zombieChildren returns our children in state Z that are not registered leaders.
func zombieChildren(t *testing.T) []int {
	t.Helper()
	kids, err := testStarter.lister.children()
	if err != nil {
		t.Fatal(err)
	}
	var z []int
	for _, pid := range kids {
		if testStarter.isLeader(pid) {
			continue
		}
		if st, err := readStat(pid); err == nil && st.dead() {
			z = append(z, pid)
		}
	}
	return z
}

func isRoot() bool { return os.Geteuid() == 0 }
