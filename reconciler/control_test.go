package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// controlFake records the signals and restarts it is asked for.
type controlFake struct {
	mu   sync.Mutex
	got  []string
	fail error
}

func (f *controlFake) Signal(_ context.Context, program string, index int, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, fmt.Sprintf("%s/%d/%d", program, index, sig))
	return f.fail
}

func (f *controlFake) Restart(_ context.Context, program string, index int, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, fmt.Sprintf("restart %s/%d force=%v", program, index, force))
	return f.fail
}

func (f *controlFake) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// controlServe runs a control server on stateDir until the test ends.
func controlServe(t *testing.T, stateDir string, s Controller) (stop func()) {
	t.Helper()
	// Registered as the directory's only daemon: clients find it so.
	unlock, err := Lock(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	srv, err := ListenControl(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, s, logr.Discard()) }()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("Serve did not return after its context was cancelled")
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestControlSignalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	fake := &controlFake{}
	stop := controlServe(t, dir, fake)

	fi, err := os.Stat(ControlSocketPath(dir, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "daemons", ".control-*")); len(left) > 0 {
		t.Errorf("temporary directory left: %v", left)
	}

	ctx := context.Background()
	for _, tc := range []struct {
		index int
		sig   string
		want  string
	}{
		{-1, "HUP", "web/-1/1"},
		{2, "sigusr1", "web/2/10"},
		{0, "9", "web/0/9"},
	} {
		if err := SendSignal(ctx, dir, "web", tc.index, tc.sig); err != nil {
			t.Fatalf("SendSignal %s: %v", tc.sig, err)
		}
		if got := fake.calls(); got[len(got)-1] != tc.want {
			t.Errorf("signal %s: got %s, want %s", tc.sig, got[len(got)-1], tc.want)
		}
	}

	fake.fail = fmt.Errorf("web: %w to signal", ErrNotRunning)
	err = SendSignal(ctx, dir, "web", -1, "TERM")
	if err == nil || err.Error() != "web: no running instance to signal" || !errors.Is(err, ErrNotRunning) {
		t.Errorf("the daemon's error did not come back typed: %v", err)
	}
	if err := SendSignal(ctx, dir, "web", -1, "NOPE"); err == nil || len(fake.calls()) != 4 {
		t.Errorf("a bad signal name went to the daemon: %v", err)
	}

	// Restart of one instance, with and without force; errors come back
	// typed (NoProgram), or untyped.
	fake.fail = nil
	if err := RestartInstance(ctx, dir, "web", 1, false); err != nil {
		t.Fatal(err)
	}
	if err := RestartInstance(ctx, dir, "web", 0, true); err != nil {
		t.Fatal(err)
	}
	if got := fake.calls(); got[len(got)-2] != "restart web/1 force=false" || got[len(got)-1] != "restart web/0 force=true" {
		t.Errorf("restarts: %v", got)
	}
	fake.fail = fmt.Errorf("api: %w", ErrNoProgram)
	if err := RestartInstance(ctx, dir, "api", 0, false); !errors.Is(err, ErrNoProgram) || errors.Is(err, ErrNotRunning) || err.Error() != "api: no such program" {
		t.Errorf("restart of an unknown program: %v", err)
	}
	fake.fail = errors.New("web-3 is STOPPING: nothing to restart")
	if err := RestartInstance(ctx, dir, "web", 3, false); err == nil || errors.Is(err, ErrNotRunning) || errors.Is(err, ErrNoProgram) {
		t.Errorf("an untyped error came back as %v", err)
	}

	stop()
	if _, err := os.Stat(ControlSocketPath(dir, os.Getpid())); !os.IsNotExist(err) {
		t.Errorf("socket left after Serve returned: %v", err)
	}
	if err := SendSignal(ctx, dir, "web", -1, "HUP"); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("with no daemon: %v, want ErrNoDaemon", err)
	}
}

// A socket left by a daemon that was killed is replaced; a path longer than
// a unix socket address allows still works.
func TestControlStaleAndLongPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// What a killed daemon left at the socket's path.
	if err := os.MkdirAll(filepath.Dir(ControlSocketPath(dir, os.Getpid())), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ControlSocketPath(dir, os.Getpid()), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	fake := &controlFake{}
	controlServe(t, dir, fake)
	if err := SendSignal(context.Background(), dir, "db", 1, "SIGQUIT"); err != nil {
		t.Fatal(err)
	}
	if got := fake.calls(); len(got) != 1 || got[0] != "db/1/3" {
		t.Errorf("calls %v", got)
	}
}

// A request that is not JSON, or an unknown op, gets an error back and
// does not reach the reconciler.
func TestControlBadRequests(t *testing.T) {
	dir := t.TempDir()
	fake := &controlFake{}
	controlServe(t, dir, fake)
	for req, want := range map[string]string{
		"hello\n":                                "bad request",
		`{"op":"reboot","program":"web"}` + "\n": `unknown op`,
		`{"op":"restart","program":"web","index":-1}` + "\n":      "name one instance",
		`{"op":"signal","program":"web","signal":"BOGUS"}` + "\n": "not a signal name",
	} {
		conn, err := net.Dial("unix", ControlSocketPath(dir, os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(waitTimeout))
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		n, _ := conn.Read(buf)
		conn.Close()
		if !strings.Contains(string(buf[:n]), want) {
			t.Errorf("%q: answer %q, want %q in it", req, buf[:n], want)
		}
	}
	if len(fake.calls()) != 0 {
		t.Errorf("bad requests reached the reconciler: %v", fake.calls())
	}
}

func TestControlParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"HUP": syscall.SIGHUP, "SIGHUP": syscall.SIGHUP, "hup": syscall.SIGHUP, " usr2 ": syscall.SIGUSR2,
		"KILL": syscall.SIGKILL, "winch": syscall.SIGWINCH, "15": syscall.SIGTERM, "RTMIN+2": 36,
	} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "-1", "SIGNOPE", "RTMIN+99"} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q): no error", in)
		}
	}
}
