package main

// The command line, run as a real process: the test binary re-executes
// itself with RECONCILED_TEST_MAIN=1 and then acts as the reconciled binary.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

const mainEnv = "RECONCILED_TEST_MAIN"

func TestMain(m *testing.M) {
	proc.MaybeRunShim()
	if os.Getenv(mainEnv) == "1" {
		main() // exits
		return
	}
	os.Exit(m.Run())
}

// endDaemon ends a test's daemon that may still run: SIGTERM, so that it
// stops its instances and removes its cgroups (a SIGKILLed daemon leaves
// them to the directory's next daemon, and after a test there is none),
// SIGKILL if it has not exited within 30 s. exited is closed once it has.
func endDaemon[T any](p *os.Process, exited <-chan T) {
	select {
	case <-exited:
		return
	default:
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = p.Kill()
		<-exited
	}
}

// cmdResult is what one run of the command printed and how it exited.
type cmdResult struct {
	stdout, stderr string
	code           int
}

// cmdCommand prepares `reconciled args...`, with RECONCILED_DIR unset.
func cmdCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// Under -race a child that exits 0 sleeps 1s (GORACE atexit_sleep_ms).
	env := []string{mainEnv + "=1", "GORACE=" + os.Getenv("GORACE") + " atexit_sleep_ms=0"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECONCILED_DIR=") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	// When ctx ends: SIGTERM, so that a daemon removes its cgroups on the
	// way out, and SIGKILL 5 s later if it has not exited.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// cmdRun runs `reconciled args...` to its end (at most 30s).
func cmdRun(t *testing.T, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := cmdCommand(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := cmdResult{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		res.code = ee.ExitCode()
	default:
		t.Fatalf("reconciled %v: %v\nstderr: %s", args, err, res.stderr)
	}
	return res
}

func (r cmdResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func TestValidateExamples(t *testing.T) {
	all, err := filepath.Glob("../../examples/*.yaml")
	var files []string
	for _, f := range all {
		// Not the status files a daemon run on the examples leaves beside them
		// (validate skips those with a note: TestValidateSkipsDaemonFilesAndWarns).
		if kind, _ := spec.Classify(filepath.Base(f)); kind == spec.Manifest {
			files = append(files, f)
		}
	}
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	res := cmdRun(t, append([]string{"validate"}, files...)...)
	if res.code != 0 || res.stdout != "" || res.stderr != "" {
		t.Errorf("validate examples: %v", res)
	}
}

func TestValidateBroken(t *testing.T) {
	data, err := os.ReadFile("../../examples/worker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "  replicas:") })
	if at < 0 {
		t.Fatal("examples/worker.yaml has no replicas line")
	}
	lines[at] = "  replicas: -5"
	lines = append(lines, "  colour: blue")
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(t.TempDir(), "web.yaml")
	web, _ := os.ReadFile("../../examples/web.yaml")
	if err := os.WriteFile(good, web, 0o644); err != nil {
		t.Fatal(err)
	}
	res := cmdRun(t, "validate", good, path)
	if res.code != 1 {
		t.Fatalf("want exit 1: %v", res)
	}
	out := strings.Split(strings.TrimSpace(res.stdout), "\n")
	want := fmt.Sprintf("%s:%d:3: spec.replicas: must be between 0 and 10000", path, at+1)
	if out[0] != want {
		t.Errorf("first line %q, want %q", out[0], want)
	}
	if len(out) != 2 || !strings.HasPrefix(out[1], fmt.Sprintf("%s:%d:3: spec.colour: unknown field", path, len(lines))) {
		t.Errorf("want the unknown field reported too, on line %d: %v", len(lines), res)
	}
}

func TestValidateCycle(t *testing.T) {
	dir := t.TempDir()
	for name, deps := range map[string]string{"a": "[{program: b}]", "b": "[{program: c, condition: Ready}]", "c": "[{program: a}]", "d": "[{program: a}]"} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte("spec:\n  command: sleep 1\n  dependsOn: "+deps+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(n string) string { return filepath.Join(dir, n+".yaml") }
	res := cmdRun(t, "validate", p("a"), p("b"), p("c"), p("d"))
	want := p("a") + ":3:3: spec.dependsOn: dependency cycle: a -> b -> c -> a\n" +
		p("b") + ":3:3: spec.dependsOn: dependency cycle: b -> c -> a -> b\n" +
		p("c") + ":3:3: spec.dependsOn: dependency cycle: c -> a -> b -> c\n"
	if res.code != 1 || res.stdout != want {
		t.Errorf("got %v, want stdout:\n%s", res, want)
	}
	// Without c the rest is fine: a waits for a c that is not there.
	if res := cmdRun(t, "validate", p("a"), p("b"), p("d")); res.code != 0 {
		t.Errorf("no cycle without c: %v", res)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"validate"},
		{"validate", "--no-such-flag", "x.yaml"},
		{"--no-such-flag"},
		{"status", "-o", "xml"},
		{"run", "extra-argument"},
		{"no-such-command"},
	} {
		if res := cmdRun(t, args...); res.code != 2 || res.stderr == "" {
			t.Errorf("reconciled %v: want exit 2 with a message on stderr: %v", args, res)
		}
	}
}

// cmdWriteStatus writes a status file as a daemon would have.
func cmdWriteStatus(t *testing.T, dir, name string) {
	t.Helper()
	started := time.Now().Add(-90 * time.Second)
	st := status.ProgramStatus{Metadata: status.Metadata{Name: name}, Status: status.Status{
		SpecHash: "sha256:0123456789abcdef0123", Desired: "running", Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 2,
		Phase: "Degraded",
		Instances: []status.Instance{
			{Name: name + "-0", Index: 0, State: "RUNNING", Ready: true, Pid: 4242, StartedAt: &started, Restarts: 1, SpecHash: "sha256:0123456789abcdef0123"},
			{Name: name + "-1", Index: 1, State: "BACKOFF", Restarts: 3, SpecHash: "sha256:0123456789abcdef0123", Message: "exited too quickly (see logs)"},
		},
		UpdatedAt: time.Now(),
	}}
	if _, err := status.WriteFile(dir, st); err != nil {
		t.Fatal(err)
	}
}

func TestStatusNoDaemon(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "worker")
	res := cmdRun(t, "status", "--dir", dir)
	if res.code != 0 {
		t.Fatalf("%v", res)
	}
	if want := "reconciled: no daemon holds " + dir + ": showing the last known status\n"; res.stderr != want {
		t.Errorf("stderr %q, want %q", res.stderr, want)
	}
	rows := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
	if len(rows) != 4 {
		t.Fatalf("want header, program and 2 instance rows:\n%s", res.stdout)
	}
	for i, want := range [][]string{
		{"NAME", "STATE", "READY", "PID", "UPTIME", "RESTARTS", "MESSAGE"},
		{"worker", "DEGRADED", "1/2"},
		{"worker-0", "RUNNING", "true", "4242", "1m30s", "1"},
		{"worker-1", "BACKOFF", "false", "-", "-", "3", "exited", "too", "quickly", "(see", "logs)"},
	} {
		if got := strings.Fields(rows[i]); !slices.Equal(got, want) {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}

	// With a daemon holding the directory: no notice.
	state := filepath.Join(dir, reconciler.StateDirName)
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := reconciler.Lock(state)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if res := cmdRun(t, "status", "--dir", dir); res.code != 0 || res.stderr != "" {
		t.Errorf("status with a daemon: %v", res)
	}
}

func TestStatusJSON(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "worker")
	cmdWriteStatus(t, dir, "web")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", "--dir", dir, "-o", "json"}, []string{"web", "worker"}},
		{[]string{"status", "--dir", dir, "-o", "json", "worker"}, []string{"worker"}},
	} {
		res := cmdRun(t, tc.args...)
		if res.code != 0 {
			t.Fatalf("%v", res)
		}
		var sts []status.ProgramStatus
		if err := json.Unmarshal([]byte(res.stdout), &sts); err != nil {
			t.Fatalf("status -o json: %v\n%s", err, res.stdout)
		}
		var names []string
		for _, st := range sts {
			names = append(names, st.Metadata.Name)
			if len(st.Status.Instances) != 2 || st.Status.Instances[0].Pid != 4242 {
				t.Errorf("%s: instances %+v", st.Metadata.Name, st.Status.Instances)
			}
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%v: programs %v, want %v", tc.args, names, tc.want)
		}
	}
	if res := cmdRun(t, "status", "--dir", dir, "-o", "json", "nope"); res.code != 1 || !strings.Contains(res.stderr, "nope") {
		t.Errorf("status of an unknown program: %v", res)
	}
}

// `status -o json | jq '.[]'` must work with no programs too: a JSON array.
func TestStatusJSONEmptyIsArray(t *testing.T) {
	res := cmdRun(t, "status", "--dir", t.TempDir(), "-o", "json")
	var sts []status.ProgramStatus
	if res.code != 0 || strings.TrimSpace(res.stdout) != "[]" || json.Unmarshal([]byte(res.stdout), &sts) != nil {
		t.Errorf("status -o json with no programs: want [], got %v", res)
	}
}

func TestRunLocked(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, reconciler.StateDirName)
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := reconciler.Lock(state)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	res := cmdRun(t, "run", "--dir", dir)
	want := fmt.Sprintf("reconciled: another reconciled daemon holds the directory (pid %d): %s (a daemon without --only/--exclude owns every program)\n", os.Getpid(), dir)
	if res.code != 1 || res.stderr != want {
		t.Errorf("run on a locked directory: %v\nwant stderr %q", res, want)
	}
}

// cmdWaitStatus polls NAME.status.yaml until cond holds.
func cmdWaitStatus(t *testing.T, dir, name string, cond func(status.ProgramStatus) bool) status.ProgramStatus {
	t.Helper()
	const timeout = 20 * time.Second
	var st status.ProgramStatus
	var err error
	if !waitfor.Until(timeout, func() bool {
		st, err = status.ReadFile(status.StatusPath(dir, name))
		return err == nil && cond(st)
	}) {
		t.Fatalf("%s: timed out after %v; last status %+v, %v", name, timeout, st.Status, err)
	}
	return st
}

func cmdRunning(cmdline string) func(status.ProgramStatus) bool {
	return func(st status.ProgramStatus) bool {
		if st.Status.ReadyReplicas != 1 || len(st.Status.Instances) != 1 || st.Status.Instances[0].Pid == 0 {
			return false
		}
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(st.Status.Instances[0].Pid) + "/cmdline")
		return string(b) == cmdline
	}
}

// `reconciled run`: SIGHUP rescans, SIGTERM stops every instance and exits 0.
func TestRunSignals(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	name := "sig-" + strconv.Itoa(os.Getpid())
	target := filepath.Join(outside, name+".yaml")
	write := func(arg string) {
		manifest := "spec:\n  command: [sleep, \"" + arg + "\"]\n  startSeconds: 100ms\n  stopTimeout: 500ms\n"
		if err := os.WriteFile(target+".tmp", []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(target+".tmp", target); err != nil {
			t.Fatal(err)
		}
	}
	write("1000")
	// A symlink to a file outside: its changes are seen at a rescan only.
	if err := os.Symlink(target, filepath.Join(dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := cmdCommand(ctx, "run", "--dir", dir, "--resync", "1h", "--log-format", "json")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() {
		exited <- cmd.Wait()
		close(waited)
	}()
	defer func() {
		endDaemon(cmd.Process, waited)
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", errOut.String())
		}
	}()

	st := cmdWaitStatus(t, dir, name, cmdRunning("sleep\x001000\x00"))
	first := st.Status.Instances[0].Pid
	write("1001")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	st = cmdWaitStatus(t, dir, name, cmdRunning("sleep\x001001\x00"))
	second := st.Status.Instances[0].Pid

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("run after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not exit after SIGTERM")
	}
	for _, pid := range []int{first, second} {
		if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && !bytes.Contains(b, []byte(") Z ")) {
			if c, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.HasPrefix(string(c), "sleep") {
				t.Errorf("instance pid %d alive after the daemon exited", pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if held, _ := reconciler.Held(filepath.Join(dir, reconciler.StateDirName)); held {
		t.Errorf("lock held after exit")
	}
}

// validate over a glob that also matches the daemon's files skips them with
// a note; a shell operator without shell: true is a warning, not an error.
func TestValidateSkipsDaemonFilesAndWarns(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"web.yaml":         "spec:\n  command: ./server > server.log\n",
		"web.status.yaml":  "status: {phase: Running}\n",
		"web.events.jsonl": "{}\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	res := cmdRun(t, append([]string{"validate"}, files...)...)
	if res.code != 0 || res.stdout != "" {
		t.Fatalf("want exit 0 and no errors: %v", res)
	}
	for _, want := range []string{
		filepath.Join(dir, "web.status.yaml") + ": skipped: a file the daemon writes, not a manifest",
		filepath.Join(dir, "web.events.jsonl") + ": skipped",
		filepath.Join(dir, "web.yaml") + `:2:3: spec.command: warning: ">" is shell syntax, but no shell runs this command: the program gets ">" as an argument; did you mean shell: true?`,
	} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
}

// validate reads envFrom's files beside the manifest: a missing one and a
// syntax error are located at the entry, with the dotenv file's line, and
// no value is quoted.
func TestValidateEnvFrom(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write(".env", "PORT=8000\n")
	write("bad.env", "# ok\nTOKEN=\"hunter2\n")
	good := write("web.yaml", "spec:\n  command: sleep 1\n  envFrom: [{file: .env}]\n")
	bad := write("api.yaml", "spec:\n  command: sleep 1\n  envFrom:\n  - file: missing.env\n  - file: bad.env\n")
	if res := cmdRun(t, "validate", good); res.code != 0 {
		t.Errorf("validate %s: %v", good, res)
	}
	res := cmdRun(t, "validate", good, bad)
	want := bad + ":4:5: spec.envFrom[0].file: cannot read " + filepath.Join(dir, "missing.env") + ": no such file or directory\n" +
		bad + ":5:5: spec.envFrom[1].file: bad.env:2: TOKEN: no closing \"\n"
	if res.code != 1 || res.stdout != want || strings.Contains(res.stdout+res.stderr, "hunter2") {
		t.Errorf("got %v, want stdout:\n%s", res, want)
	}
}
