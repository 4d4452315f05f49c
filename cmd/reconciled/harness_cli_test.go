package main

// The harness of the command-line tests (*_cli_test.go): an in-process
// daemon (reconciler.RunDaemon) on a temp directory, and the cobra root run
// in-process with captured output. Helpers are prefixed "cli".
//
// One daemon at a time: the proc package allows one Starter (one reaper) per
// process, so cliStart holds cliDaemonMu while its daemon runs.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/reconciled/reconciled/internal/cli"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// cliTimeout bounds every wait of these tests; a passing test is far
// quicker.
const cliTimeout = 30 * time.Second

var cliDaemonMu sync.Mutex

// cliBuffer is a bytes.Buffer safe for a writer and a reader at once.
type cliBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *cliBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *cliBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// cliDaemon is one in-process daemon on dir.
type cliDaemon struct {
	dir string
	log *cliBuffer
}

// cliStart runs RunDaemon on a new temp directory until the test ends; at
// cleanup it cancels it, waits for it to return, and kills whatever the
// status files still record as ours.
func cliStart(t *testing.T) *cliDaemon {
	t.Helper()
	return cliStartCgroupRoot(t, "")
}

// cliStartCgroupRoot is cliStart with --cgroup-root cgroupRoot ("": the
// default; "none": without cgroups).
func cliStartCgroupRoot(t *testing.T, cgroupRoot string) *cliDaemon {
	t.Helper()
	cliDaemonMu.Lock()
	d := &cliDaemon{dir: t.TempDir(), log: &cliBuffer{}}
	logger := funcr.New(func(prefix, args string) { fmt.Fprintln(d.log, prefix, args) }, funcr.Options{Verbosity: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- reconciler.RunDaemon(ctx, reconciler.DaemonOptions{Dir: d.dir, Resync: time.Second, Log: logger, Stdout: os.Stdout, Stderr: os.Stderr, CgroupRoot: cgroupRoot})
	}()
	t.Cleanup(func() {
		defer cliDaemonMu.Unlock()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunDaemon: %v", err)
			}
		case <-time.After(cliTimeout):
			t.Errorf("RunDaemon did not return after cancel")
		}
		reconciler.CleanupStale(d.dir, logger)
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	waitfor.Condition(t, cliTimeout, func() bool {
		held, _ := reconciler.Held(filepath.Join(d.dir, reconciler.StateDirName))
		_, err := os.Stat(reconciler.ControlSocketPath(filepath.Join(d.dir, reconciler.StateDirName), os.Getpid()))
		return held && err == nil
	}, "the daemon to take the lock and open its socket")
	return d
}

// cliResult is one in-process run of the command line.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cliExec runs `reconciled args...` in-process, as main's run does, with
// stdin as standard input.
func cliExec(ctx context.Context, stdin string, args ...string) cliResult {
	root := newRootCommand()
	var out, errOut cliBuffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	res := cliResult{code: cli.Exit(root.ExecuteContext(ctx), &errOut, "reconciled")}
	res.stdout, res.stderr = out.String(), errOut.String()
	return res
}

// cli runs `reconciled --dir DIR args...` with a deadline.
func (d *cliDaemon) cli(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	return cliExec(ctx, "", append([]string{"--dir", d.dir}, args...)...)
}

// cliManifest is a manifest for the tests: fast starts and stops.
func cliManifest(command string, extra ...string) string {
	var b strings.Builder
	b.WriteString("# a test program\nspec:\n  command: " + command + "\n")
	b.WriteString("  startSeconds: 100ms   # quick\n  stopTimeout: 1s\n  restartDelay: 20ms\n")
	for _, e := range extra {
		b.WriteString("  " + e + "\n")
	}
	return b.String()
}

func (d *cliDaemon) write(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(d.dir, name+".yaml")
	tmp := filepath.Join(d.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// status reads NAME's status file, or the zero value.
func (d *cliDaemon) status(name string) (status.ProgramStatus, bool) {
	st, err := status.ReadFile(status.StatusPath(d.dir, name))
	return st, err == nil
}

// waitReady waits until n instances of name are ready and returns the status.
func (d *cliDaemon) waitReady(t *testing.T, name string, n int) status.ProgramStatus {
	t.Helper()
	var st status.ProgramStatus
	waitfor.Condition(t, cliTimeout, func() bool {
		var ok bool
		st, ok = d.status(name)
		return ok && st.Status.ReadyReplicas == n && len(st.Status.Instances) == n && st.Status.Phase == "Running"
	}, "%s: %d ready", name, n)
	return st
}

func cliPids(st status.ProgramStatus) []int {
	var pids []int
	for _, in := range st.Status.Instances {
		pids = append(pids, in.Pid)
	}
	return pids
}

func cliAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !bytes.Contains(b, []byte(") Z "))
}
