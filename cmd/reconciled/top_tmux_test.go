package main

// `reconciled top` in a real terminal: tmux runs it at 80x24 against a
// daemon (`reconciled run`, this test binary acting as the reconciled
// binary, see TestMain), keys are sent with send-keys, and the screen
// (capture-pane) and the files (manifests, status) are polled until they
// show the outcome, each wait bounded by a deadline.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// tmuxTimeout bounds each wait of the test; a passing run is far quicker.
const tmuxTimeout = 30 * time.Second

// tmuxSession is one tmux server of its own (-L), with one session.
type tmuxSession struct {
	t    *testing.T
	bin  string
	sock string
}

func (s *tmuxSession) tmux(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tmuxTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, s.bin, append([]string{"-L", s.sock}, args...)...).CombinedOutput()
	return string(out), err
}

// screen is what the terminal shows now.
func (s *tmuxSession) screen() string {
	out, err := s.tmux("capture-pane", "-p", "-t", "top")
	if err != nil {
		return "capture-pane: " + err.Error() + ": " + out
	}
	return out
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	if out, err := s.tmux(append([]string{"send-keys", "-t", "top"}, keys...)...); err != nil {
		s.t.Fatalf("send-keys %q: %v: %s", keys, err, out)
	}
}

// waitScreen waits until cond holds for the screen.
func (s *tmuxSession) waitScreen(what string, cond func(screen string) bool) string {
	s.t.Helper()
	var last string
	if !waitfor.UntilEvery(tmuxTimeout, 50*time.Millisecond, func() bool { last = s.screen(); return cond(last) }) {
		s.t.Fatalf("timed out after %v waiting for the screen to show %s; it shows:\n%s", tmuxTimeout, what, last)
	}
	return last
}

// screenLine returns the line of the screen that starts, after the marker
// columns, with name followed by a space.
func screenLine(screen, name string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " >"), name+" ") {
			return l
		}
	}
	return ""
}

func TestTopInTmux(t *testing.T) {
	bin, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux is not installed: the real-terminal test of reconciled top needs it (.ci/run installs it)")
	}
	dir := t.TempDir()
	for _, name := range []string{"web", "worker"} {
		devWrite(t, dir, name, "# "+name+"\nspec:\n  command: [sleep, \"1000\"]\n  replicas: 1   # one\n  startSeconds: 100ms\n  stopTimeout: 1s\n")
	}

	// The daemon.
	ctx, cancel := context.WithTimeout(context.Background(), 3*tmuxTimeout)
	defer cancel()
	daemon := cmdCommand(ctx, "run", "--dir", dir, "--log-format", "json")
	var daemonErr cliBuffer
	daemon.Stderr = &daemonErr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- daemon.Wait() }()
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(tmuxTimeout):
			_ = daemon.Process.Kill()
			<-waited
			t.Errorf("the daemon did not exit after SIGTERM")
		}
		reconciler.CleanupStale(dir, logr.Discard())
		if t.Failed() {
			t.Logf("daemon log:\n%s", daemonErr.String())
		}
	})
	for _, name := range []string{"web", "worker"} {
		cmdWaitStatus(t, dir, name, func(st status.ProgramStatus) bool { return st.Status.ReadyReplicas == 1 })
	}

	// top, in a tmux server of its own at 80x24 with no status bar; the
	// pane stays after top exits, to read its exit status.
	s := &tmuxSession{t: t, bin: bin, sock: "reconciled-top-" + strconv.Itoa(os.Getpid())}
	conf := filepath.Join(t.TempDir(), "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g status off\nset -g remain-on-exit on\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// top's standard error goes to a file: the terminal is its standard
	// output's (the race detector's reports, if any, land in the file).
	stderrFile := filepath.Join(t.TempDir(), "top.stderr")
	// Its exit status goes to a file too: tmux does not always learn the
	// status of a pane's process.
	exitFile := filepath.Join(t.TempDir(), "top.exit")
	command := fmt.Sprintf("env %s=1 GORACE=atexit_sleep_ms=0 RECONCILED_DIR= NO_COLOR= '%s' top --dir '%s' 2>>'%s'; echo $? >'%s'",
		mainEnv, os.Args[0], dir, stderrFile, exitFile)
	if out, err := s.tmux("-f", conf, "new-session", "-d", "-s", "top", "-x", "80", "-y", "24", command); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(stderrFile)
			t.Logf("the screen at the end:\n%s\ntop's standard error:\n%s", s.screen(), b)
		}
		_, _ = s.tmux("kill-server")
	})

	screen := s.waitScreen("both programs running", func(sc string) bool {
		return strings.Contains(sc, "daemon running (pid") &&
			strings.Contains(screenLine(sc, "web"), "RUNNING") && strings.Contains(screenLine(sc, "worker"), "RUNNING")
	})
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	for i, l := range lines {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("line %d is %d wide: %q", i, n, l)
		}
	}
	if out, _ := s.tmux("display-message", "-p", "-t", "top", "#{pane_width}x#{pane_height}"); strings.TrimSpace(out) != "80x24" {
		t.Errorf("the pane is %s, want 80x24", out)
	}

	// + on the first row (web, the first by name): replicas 2 in the
	// manifest, its comment kept, two ready in the status and on screen.
	s.keys("+")
	waitfor.Condition(t, tmuxTimeout, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "web.yaml"))
		return strings.Contains(string(b), "replicas: 2   # one")
	}, "web.yaml to say replicas: 2")
	cmdWaitStatus(t, dir, "web", func(st status.ProgramStatus) bool { return st.Status.ReadyReplicas == 2 })
	s.waitScreen("web 2/2", func(sc string) bool { return strings.Contains(screenLine(sc, "web"), "2/2") })

	// The filter: only worker is left.
	s.keys("/", "wor", "Enter")
	s.waitScreen("worker alone", func(sc string) bool {
		return screenLine(sc, "worker") != "" && screenLine(sc, "web") == "" && strings.Contains(sc, "/wor")
	})

	// s stops the selected program (worker): desired: stopped in the
	// manifest, nothing running in the status, STOPPED on screen.
	s.keys("s")
	waitfor.Condition(t, tmuxTimeout, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "worker.yaml"))
		return strings.Contains(string(b), "desired: stopped")
	}, "worker.yaml to say desired: stopped")
	cmdWaitStatus(t, dir, "worker", func(st status.ProgramStatus) bool {
		for _, in := range st.Status.Instances {
			if change.Live(in) {
				return false
			}
		}
		return st.Status.Desired == "stopped"
	})
	s.waitScreen("worker STOPPED", func(sc string) bool { return strings.Contains(screenLine(sc, "worker"), "STOPPED") })
	if b, _ := os.ReadFile(filepath.Join(dir, "web.yaml")); strings.Contains(string(b), "desired: stopped") {
		t.Errorf("s stopped web too:\n%s", b)
	}

	// q quits with status 0, and the terminal is left as it was: the
	// alternate screen is gone.
	s.keys("q")
	var code []byte
	waitfor.Condition(t, tmuxTimeout, func() bool {
		code, _ = os.ReadFile(exitFile)
		return len(code) > 0
	}, "top to exit on q")
	if got := strings.TrimSpace(string(code)); got != "0" {
		t.Errorf("top exited %s on q, want 0", got)
	}
	var state string
	if !waitfor.UntilEvery(tmuxTimeout, 50*time.Millisecond, func() bool {
		state, _ = s.tmux("display-message", "-p", "-t", "top", "#{pane_dead} #{alternate_on}")
		return strings.HasPrefix(state, "1 ")
	}) {
		t.Fatalf("the pane did not end: %q", state)
	}
	if strings.TrimSpace(state) != "1 0" {
		t.Errorf("after q: pane dead, alternate screen = %q, want 1 0", strings.TrimSpace(state))
	}
	if sc := s.screen(); strings.Contains(sc, "daemon running") {
		t.Errorf("the view is left on the terminal:\n%s", sc)
	}

	// SIGTERM ends it as cleanly.
	if err := os.Remove(exitFile); err != nil {
		t.Fatal(err)
	}
	if out, err := s.tmux("respawn-pane", "-k", "-t", "top", command); err != nil {
		t.Fatalf("tmux respawn-pane: %v: %s", err, out)
	}
	s.waitScreen("top again", func(sc string) bool { return strings.Contains(sc, "daemon running (pid") })
	pids := topProcesses(dir)
	if len(pids) != 1 {
		t.Fatalf("top processes: %v", pids)
	}
	pid, _ := strconv.Atoi(strings.SplitN(pids[0], ":", 2)[0])
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, tmuxTimeout, func() bool {
		code, _ = os.ReadFile(exitFile)
		return len(code) > 0
	}, "top to exit on SIGTERM")
	if got := strings.TrimSpace(string(code)); got != "0" {
		t.Errorf("top exited %s on SIGTERM, want 0", got)
	}
	if state, _ = s.tmux("display-message", "-p", "-t", "top", "#{alternate_on}"); strings.TrimSpace(state) != "0" {
		t.Errorf("after SIGTERM: alternate screen %q, want 0", state)
	}
}

// topProcesses lists the processes running top on dir.
func topProcesses(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "top\x00--dir\x00"+dir) {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			out = append(out, e.Name()+": "+string(stat))
		}
	}
	return out
}
