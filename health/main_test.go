package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/proc"
)

// testStarter is the one proc.Starter of the test binary (one per process:
// two reapers would reap each other's leaders). Its reaper runs for all tests
// and reaps the orphans that probes leave (the test binary is a subreaper,
// as the daemon is).
var testStarter *proc.Starter

// testPath is the PATH given to exec probes.
var testPath = "PATH=" + os.Getenv("PATH")

// listenerEnv makes the test binary a listener process (see runListener).
const listenerEnv = "HEALTH_TEST_LISTENER"

func TestMain(m *testing.M) {
	proc.MaybeRunShim()
	if os.Getenv(listenerEnv) != "" {
		os.Exit(runListener())
	}
	if err := proc.BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testStarter = proc.NewStarter(logr.Discard())
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

// runListener serves, until killed, a TCP listener that accepts and closes
// and an HTTP server that answers 200, and prints "TCPPORT HTTPPORT". The
// benchmarks probe it so that the serving side's CPU is not counted in the
// test process's rusage.
func runListener() int {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				continue
			}
			c.Close()
		}
	}()
	go func() {
		_ = http.Serve(hl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("ok\n"))
		}))
	}()
	fmt.Println(tl.Addr().(*net.TCPAddr).Port, hl.Addr().(*net.TCPAddr).Port)
	select {}
}

// startListener runs the test binary as a listener process (killed at
// cleanup) and returns its TCP and HTTP ports.
func startListener(t testing.TB) (tcpPort, httpPort int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), listenerEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("listener: %v", err)
	}
	if _, err := fmt.Sscan(line, &tcpPort, &httpPort); err != nil {
		t.Fatalf("listener said %q: %v", line, err)
	}
	return tcpPort, httpPort
}

// testCtx is a context that ends well before the test binary's timeout.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitTimeout bounds every wait of these tests for an outcome. It is
// generous, for a loaded machine under -race: a passing test never waits
// that long.
const waitTimeout = 20 * time.Second

// probeWithin runs pr once with timeout and returns its result. The call
// must return once its context ends: the test fails if it has not within
// waitTimeout after the timeout (a probe that ignored its context would
// otherwise hang the test). The context is made right before the call, as
// Run makes it.
func probeWithin(t *testing.T, pr Prober, timeout time.Duration) Result {
	t.Helper()
	parent := testCtx(t)
	done := make(chan Result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(parent, timeout)
		defer cancel()
		done <- pr.Probe(ctx)
	}()
	select {
	case r := <-done:
		return r
	case <-time.After(timeout + waitTimeout):
		t.Fatalf("probe did not return within %v of its %v timeout", waitTimeout, timeout)
		return Result{}
	}
}

// checkTimeoutErr checks that err is ErrTimeout and reads
// prefix+"probe timed out after D". D is the time from the probe's start to
// its context's deadline: the timeout, or, on a loaded machine where the
// probe starts a moment after its context was made, a little less. It is
// checked to be positive and at most the timeout.
func checkTimeoutErr(t *testing.T, err error, prefix string, timeout time.Duration) {
	t.Helper()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Err = %v, want a timeout", err)
	}
	msg := err.Error()
	figure, ok := strings.CutPrefix(msg, prefix+"probe timed out after ")
	d, perr := time.ParseDuration(figure)
	if !ok || perr != nil || d <= 0 || d > timeout {
		t.Errorf("Err = %q, want %q", msg, prefix+"probe timed out after "+timeout.String())
	}
}

// procState returns the state letter and process group of pid from
// /proc/PID/stat; ok is false when pid does not exist.
func procState(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return 0, 0, false
	}
	pgid, _ = strconv.Atoi(f[2])
	return f[0][0], pgid, true
}

// gone reports whether pid, a member of group pgid, has exited: it no longer
// exists, is a zombie, or its pid now names another group's process.
func gone(pid, pgid int) bool {
	state, g, ok := procState(pid)
	return !ok || state == 'Z' || state == 'X' || g != pgid
}

// killGroupLater makes sure group pgid is gone at cleanup, whatever the test
// did. The pgid is checked first, so a reused pid is not signalled.
func killGroupLater(t *testing.T, pid, pgid int) {
	t.Cleanup(func() {
		if _, g, ok := procState(pid); ok && g == pgid {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
}

// freePort returns a local port with nothing listening on it.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}
