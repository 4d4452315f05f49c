package main

// Development mode: `reconciled run --attach --exit-on ...` as a real
// process, as the README's example runs it.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/status"
)

func devWrite(t *testing.T, dir, name, manifest string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A web process and a worker in one terminal; the worker fails, everything
// stops, and the daemon exits with the worker's code.
func TestRunAttachExitOnFailure(t *testing.T) {
	dir := t.TempDir()
	devWrite(t, dir, "web", "spec:\n  command: sh -c 'echo serving; exec sleep 1000'\n  stopTimeout: 1s\n")
	// The worker waits until web has said its line, so the output is known.
	devWrite(t, dir, "worker", `spec:
  command: sh -c 'until grep -q serving .reconciled/logs/web-0.stdout.log 2>/dev/null; do sleep 0.01; done; echo working; echo oops >&2; exit 3'
  startSeconds: 0s
`)
	res := cmdRun(t, "run", "--dir", dir, "--attach", "--exit-on", "failure")
	if res.code != 3 {
		t.Fatalf("exit code %d, want 3\n%v", res.code, res)
	}
	// Names are padded to the longest seen so far: web's line may come
	// before worker-0 has a writer, unpadded.
	for _, want := range []string{`(?m)^web-0 {1,4}\| serving$`, `(?m)^worker-0 \| working$`, `(?m)^worker-0 \| oops$`} {
		if !regexp.MustCompile(want).MatchString(res.stdout) {
			t.Errorf("stdout lacks %s:\n%s", want, res.stdout)
		}
	}
	if strings.Contains(res.stdout, "\x1b[") {
		t.Errorf("colours on a pipe:\n%q", res.stdout)
	}
	if want := "reconciled: worker-0 exited with code 3: stopped everything (--exit-on failure)\n"; !strings.HasSuffix(res.stderr, want) {
		t.Errorf("stderr does not end with %q:\n%s", want, res.stderr)
	}
}

func TestRunExitOnSignalAndAllSucceeded(t *testing.T) {
	dir := t.TempDir()
	devWrite(t, dir, "crash", "spec:\n  command: sh -c 'kill -SEGV $$$$'\n  startSeconds: 0s\n")
	if res := cmdRun(t, "run", "--dir", dir, "--exit-on", "failure"); res.code != 128+11 {
		t.Errorf("exit code %d, want 139\n%v", res.code, res)
	}

	dir = t.TempDir()
	devWrite(t, dir, "migrate", "spec:\n  command: sh -c 'echo migrated'\n  replicas: 2\n  startSeconds: 0s\n")
	devWrite(t, dir, "seed", "spec:\n  command: [sleep, '0.2']\n  startSeconds: 0s\n")
	res := cmdRun(t, "run", "--dir", dir, "--exit-on", "all-succeeded", "--attach", "--timestamps")
	if res.code != 0 || strings.Count(res.stdout, "| migrated\n") != 2 {
		t.Errorf("all-succeeded: %v", res)
	}

	if res := cmdRun(t, "run", "--dir", dir, "--exit-on", "sometimes"); res.code != 2 || !strings.Contains(res.stderr, "--exit-on") {
		t.Errorf("a bad --exit-on: %v", res)
	}
}

// --only and --exclude run a subset of the directory.
func TestRunOnlyExclude(t *testing.T) {
	dir := t.TempDir()
	devWrite(t, dir, "web", "spec:\n  command: sh -c 'echo web ran'\n  startSeconds: 0s\n")
	devWrite(t, dir, "worker", "spec:\n  command: sh -c 'echo worker ran'\n  startSeconds: 0s\n")
	devWrite(t, dir, "db", "spec:\n  command: sh -c 'echo db ran'\n  startSeconds: 0s\n")
	res := cmdRun(t, "run", "--dir", dir, "--attach", "--exit-on", "all-succeeded", "--only", "web,worker", "--exclude", "worker")
	if strings.Contains(res.stderr, "not wired into the loop yet") {
		t.Skip("needs the loop's Filter option")
	}
	if res.code != 0 || !strings.Contains(res.stdout, "web-0 | web ran\n") || strings.Contains(res.stdout, "worker ran") || strings.Contains(res.stdout, "db ran") {
		t.Errorf("--only web,worker --exclude worker: %v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "db.status.yaml")); !os.IsNotExist(err) {
		t.Errorf("an excluded program got a status file: %v", err)
	}
	if res := cmdRun(t, "run", "--dir", dir, "--only", "Web"); res.code != 2 {
		t.Errorf("a bad --only name: %v", res)
	}
}

// vagga's rule: under --exit-on, a SIGINT to the daemon reaches every
// instance as SIGINT (not its stop signal), and the daemon exits 130.
func TestRunExitOnPassesSignal(t *testing.T) {
	dir := t.TempDir()
	devWrite(t, dir, "trap", `spec:
  command: sh -c 'trap "echo INT > got; exit 0" INT; trap "echo TERM > got; exit 0" TERM; while :; do sleep 0.05; done'
  startSeconds: 0s
`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := cmdCommand(ctx, "run", "--dir", dir, "--exit-on", "failure")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	cmdWaitStatus(t, dir, "trap", func(st status.ProgramStatus) bool { return st.Status.ReadyReplicas == 1 })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("run after SIGINT: %v, want exit 130\n%s", err, errOut.String())
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "got")); string(got) != "INT\n" {
		t.Errorf("the instance got %q, want INT", got)
	}
}
