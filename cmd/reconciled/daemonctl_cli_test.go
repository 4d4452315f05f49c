package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"golang.org/x/sys/unix"
)

// cliHelperEnv makes TestCLIHelperDaemon run `reconciled run` on that
// directory: reload and shutdown signal the daemon's process, so it must be
// a process of its own.
const cliHelperEnv = "RECONCILED_CLI_HELPER_DIR"

func TestCLIHelperDaemon(t *testing.T) {
	dir := os.Getenv(cliHelperEnv)
	if dir == "" {
		return // only as the helper process
	}
	args := []string{"run", "--dir", dir, "--log-format", "json", "--resync", "1h"}
	if extra := os.Getenv(cliHelperArgsEnv); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	os.Exit(run(args))
}

// cliHelperArgsEnv adds arguments to the helper's `reconciled run`.
const cliHelperArgsEnv = "RECONCILED_CLI_HELPER_ARGS"

// cliDaemonProcess starts `reconciled run` on dir in a child process. The
// channel yields its exit once, then is closed.
func cliDaemonProcess(t *testing.T, dir string, args ...string) (*exec.Cmd, *cliBuffer, <-chan error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCLIHelperDaemon$")
	cmd.Env = append(os.Environ(), cliHelperEnv+"="+dir, cliHelperArgsEnv+"="+strings.Join(args, " "))
	log := &cliBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited, done := make(chan error, 1), make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(exited)
		close(done)
	}()
	t.Cleanup(func() {
		endDaemon(cmd.Process, done)
		if t.Failed() {
			t.Logf("daemon output:\n%s", log.String())
		}
	})
	return cmd, log, exited
}

func TestCLIReloadShutdown(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sleeper.yaml"), []byte(cliManifest(`[sleep, "1000"]`)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, log, exited := cliDaemonProcess(t, dir)
	d := &cliDaemon{dir: dir}
	st := d.waitReady(t, "sleeper", 1)
	instance := st.Status.Instances[0].Pid

	res := d.cli(t, "reload")
	if want := fmt.Sprintf("sent HUP to the daemon (pid %d): rescanning %s\n", cmd.Process.Pid, dir); res.code != 0 || res.stdout != want {
		t.Errorf("reload: %v\nwant %q", res, want)
	}
	waitfor.Condition(t, cliTimeout, func() bool { return strings.Contains(log.String(), "Reload requested") }, "the daemon to log the reload")

	res = d.cli(t, "shutdown", "--timeout", "20s")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "the daemon has exited\n") {
		t.Errorf("shutdown: %v", res)
	}
	if held, _ := reconciler.Held(filepath.Join(dir, reconciler.StateDirName)); held {
		t.Errorf("lock held after shutdown returned")
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("daemon exit: %v, want 0", err)
		}
	case <-time.After(cliTimeout):
		t.Fatal("the daemon did not exit")
	}
	if cliAlive(instance) {
		t.Errorf("instance pid %d alive after shutdown", instance)
	}
	for _, verb := range []string{"shutdown", "reload"} {
		if res := d.cli(t, verb); res.code != 1 || !strings.Contains(res.stderr, "no daemon holds "+dir) {
			t.Errorf("%s with no daemon: %v", verb, res)
		}
	}
}

// A daemon entry that names a process other than its lock's holder is not
// trusted: nothing is signalled.
func TestCLIDaemonPidMismatch(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, reconciler.StateDirName)
	bystander := exec.Command("sleep", "1000")
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = bystander.Process.Kill(); _ = bystander.Wait() }()
	entry := reconciler.DaemonPath(state, bystander.Process.Pid)
	if err := os.MkdirAll(filepath.Dir(entry), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(entry)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil { // held by this test process
		t.Fatal(err)
	}
	res := cliExec(context.Background(), "", "--dir", dir, "shutdown", "--timeout", "1s")
	if res.code != 1 || !strings.Contains(res.stderr, "but that process does not hold it: not signalling") {
		t.Errorf("shutdown with a lying daemon entry: %v", res)
	}
	if bystander.ProcessState != nil || !cliAlive(bystander.Process.Pid) {
		t.Errorf("the bystander was signalled")
	}
}
