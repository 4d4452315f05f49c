package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// cliCommented is a heavily commented manifest: every edit must change
// exactly one line of it (or insert one).
const cliCommented = `# worker: consumes the queue.
# Keep this file small; see the runbook.

apiVersion: reconciled.dev/v1   # optional

spec:
  # argv, no shell
  command: ["sleep", '1000']   # long enough

  replicas: 1        # start small
  # desired is left to its default

  startSeconds: "100ms"   # quick for the tests
  stopTimeout: 1s
  restartDelay: 20ms
  env:
    MODE: 'test'   # not a secret
    # more later

# end
`

// cliDiff returns the lines that differ between a and b (same line count),
// or the lines b adds to a.
func cliDiff(a, b string) []string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	i, j := 0, 0
	for i < len(la) && j < len(lb) {
		switch {
		case la[i] == lb[j]:
			i++
			j++
		case len(lb)-j > len(la)-i:
			out = append(out, "+"+lb[j])
			j++
		default:
			out = append(out, "-"+la[i], "+"+lb[j])
			i++
			j++
		}
	}
	for ; j < len(lb); j++ {
		out = append(out, "+"+lb[j])
	}
	for ; i < len(la); i++ {
		out = append(out, "-"+la[i])
	}
	return out
}

func TestCLIScaleWait(t *testing.T) {
	d := cliStart(t)
	path := d.write(t, "worker", cliCommented)
	// Mode and owner must survive the edit.
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 1234, 5678); err != nil {
			t.Fatal(err)
		}
		// A manifest owned by uid 1234 runs as 1234 (the owner rule), in
		// the spec directory: 1234 must be able to get there.
		if err := os.Chmod(filepath.Dir(d.dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d.waitReady(t, "worker", 1)

	res := d.cli(t, "scale", "worker", "3", "--wait")
	if res.code != 0 {
		t.Fatalf("scale --wait: %v", res)
	}
	if !strings.HasPrefix(res.stdout, "worker scaled to 3\n") || !strings.HasSuffix(res.stdout, "worker: 3/3 ready\n") {
		t.Errorf("output:\n%s", res.stdout)
	}
	if st, _ := d.status("worker"); st.Status.ReadyReplicas != 3 {
		t.Errorf("after scale --wait returned: %d ready", st.Status.ReadyReplicas)
	}
	after, _ := os.ReadFile(path)
	if diff := cliDiff(cliCommented, string(after)); !slices.Equal(diff, []string{
		"-  replicas: 1        # start small", "+  replicas: 3        # start small"}) {
		t.Errorf("diff: %q", diff)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	if st := fi.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (st.Uid != 1234 || st.Gid != 5678) {
		t.Errorf("owner %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	if left, _ := filepath.Glob(filepath.Join(d.dir, ".worker.yaml.tmp-*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}

	// The same value again: nothing written, and --wait returns at once.
	res = d.cli(t, "scale", "worker", "3", "--wait")
	if res.code != 0 || !strings.Contains(res.stdout, "worker unchanged") {
		t.Errorf("scale to the same count: %v", res)
	}
	// Scale down.
	res = d.cli(t, "scale", "worker", "1", "--wait")
	if st, _ := d.status("worker"); res.code != 0 || len(st.Status.Instances) != 1 {
		t.Errorf("scale down: %v\n%+v", res, st.Status)
	}
}

func TestCLIStopStartWait(t *testing.T) {
	d := cliStart(t)
	path := d.write(t, "web", cliManifest(`[sleep, "1000"]`, "replicas: 2"))
	st := d.waitReady(t, "web", 2)
	pids := cliPids(st)

	res := d.cli(t, "stop", "web", "--wait")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "web: stopped\n") {
		t.Fatalf("stop --wait: %v", res)
	}
	for _, pid := range pids {
		if cliAlive(pid) {
			t.Errorf("pid %d alive after stop --wait", pid)
		}
	}
	data, _ := os.ReadFile(path)
	if diff := cliDiff(cliManifest(`[sleep, "1000"]`, "replicas: 2"), string(data)); !slices.Equal(diff, []string{"+  desired: stopped"}) {
		t.Errorf("diff %q", diff)
	}

	res = d.cli(t, "start", "--all", "--wait")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "web: 2/2 ready\nweb: started\n") {
		t.Fatalf("start --all --wait: %v", res)
	}
	data, _ = os.ReadFile(path)
	if !strings.Contains(string(data), "\n  desired: running\n") {
		t.Errorf("manifest after start:\n%s", data)
	}
}

func TestCLIRestartWait(t *testing.T) {
	d := cliStart(t)
	path := d.write(t, "api", cliCommented)
	if res := d.cli(t, "scale", "api", "2", "--wait"); res.code != 0 {
		t.Fatal(res)
	}
	before := cliPids(d.waitReady(t, "api", 2))

	res := d.cli(t, "restart", "api", "--wait")
	if res.code != 0 || !strings.HasSuffix(res.stdout, "api: 2/2 ready\n") {
		t.Fatalf("restart --wait: %v", res)
	}
	st, _ := d.status("api")
	data, _ := os.ReadFile(path)
	p, errs := spec.Parse(path, data)
	if errs != nil {
		t.Fatal(errs)
	}
	if p.Metadata.Annotations[spec.RestartedAtAnnotation] == "" {
		t.Errorf("no restartedAt annotation:\n%s", data)
	}
	hash := spec.Hash(p)
	if st.Status.SpecHash != hash || st.Status.UpdatedReplicas != 2 || st.Status.ReadyReplicas != 2 {
		t.Errorf("after restart --wait: %+v", st.Status)
	}
	for _, in := range st.Status.Instances {
		if in.SpecHash != hash || slices.Contains(before, in.Pid) {
			t.Errorf("%s: pid %d (before %v), hash %s", in.Name, in.Pid, before, in.SpecHash)
		}
	}
	// The annotation went in as new lines before spec; nothing else moved.
	diff := cliDiff(strings.Replace(cliCommented, "replicas: 1", "replicas: 2", 1), string(data))
	if len(diff) != 3 || diff[0] != "+metadata:" || diff[1] != "+  annotations:" ||
		!strings.HasPrefix(diff[2], `+    reconciled.dev/restartedAt: "`) {
		t.Errorf("diff %q", diff)
	}
}

// An invalid manifest is refused by the changing verbs, with its located
// errors, and left as it is.
func TestCLIEditInvalidRefused(t *testing.T) {
	d := cliStart(t)
	bad := "spec:\n  command: [sleep, \"1000\"]\n  replicas: -2\n"
	path := d.write(t, "bad", bad)
	res := d.cli(t, "scale", "bad", "2")
	if res.code != 1 || !strings.Contains(res.stderr, path+":3:3: spec.replicas: must be between 0 and 10000") ||
		!strings.Contains(res.stderr, "fix it first") {
		t.Errorf("scale of an invalid manifest: %v", res)
	}
	if data, _ := os.ReadFile(path); string(data) != bad {
		t.Errorf("invalid manifest changed:\n%s", data)
	}
	if res := d.cli(t, "restart", "nosuch"); res.code != 1 || !strings.Contains(res.stderr, "no manifest named nosuch") {
		t.Errorf("restart of a missing program: %v", res)
	}
}

// A symlinked manifest (a ConfigMap volume) is read-only to the CLI.
func TestCLISymlinkRefused(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	target := filepath.Join(outside, "cm.yaml")
	content := cliManifest(`[sleep, "1000"]`)
	if err := os.WriteFile(target, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "cm.yaml")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"scale", "cm", "2"}, {"stop", "cm"}, {"delete", "cm"}} {
		res := cliExec(t.Context(), "", append([]string{"--dir", dir}, args...)...)
		if res.code != 1 || !strings.Contains(res.stderr, "is a symbolic link") || !strings.Contains(res.stderr, "change its source") {
			t.Errorf("%v: %v", args, res)
		}
	}
	if data, _ := os.ReadFile(target); string(data) != content {
		t.Errorf("symlink target changed")
	}
	if _, err := os.Lstat(filepath.Join(dir, "cm.yaml")); err != nil {
		t.Errorf("symlink removed: %v", err)
	}
}

// Two CLIs editing the same manifest at the same time, one the replicas
// and one desired, never lose each other's change.
func TestCLIConcurrentEdits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "busy.yaml")
	if err := os.WriteFile(path, []byte(cliCommented), 0o600); err != nil {
		t.Fatal(err)
	}
	const rounds = 40
	var wg sync.WaitGroup
	errs := make(chan string, 2*rounds)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 1; i <= rounds; i++ {
			if res := cliExec(t.Context(), "", "--dir", dir, "scale", "busy", strconv.Itoa(i)); res.code != 0 {
				errs <- res.String()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 1; i <= rounds; i++ {
			verb := "stop"
			if i%2 == 0 {
				verb = "start"
			}
			if res := cliExec(t.Context(), "", "--dir", dir, verb, "busy"); res.code != 0 {
				errs <- res.String()
			}
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	data, _ := os.ReadFile(path)
	p, perrs := spec.Parse(path, data)
	if perrs != nil {
		t.Fatal(perrs)
	}
	if p.Spec.Replicas != rounds || p.Spec.Desired != spec.DesiredRunning {
		t.Errorf("replicas %d desired %s: an edit was lost\n%s", p.Spec.Replicas, p.Spec.Desired, data)
	}
	want := strings.Replace(cliCommented, "replicas: 1", "replicas: "+strconv.Itoa(rounds), 1)
	if diff := cliDiff(want, string(data)); !slices.Equal(diff, []string{"+  desired: running"}) {
		t.Errorf("diff %q", diff)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"scale", "web"},
		{"scale", "web", "many"},
		{"scale", "web", "10001"},
		{"start"},
		{"stop", "web", "--all"},
		{"restart"},
		{"apply"},
		{"apply", "extra", "-f", "x.yaml"},
		{"delete"},
		{"wait", "web", "--for", "happy"},
		{"signal", "web"},
		{"signal", "web", "NOPE"},
		{"logs"},
		{"events", "-o", "xml"},
		{"status", "--watch", "-o", "json"},
		{"reload", "Not/AName"},
		{"shutdown", "--timeout", "soon"},
	} {
		res := cliExec(t.Context(), "", append([]string{"--dir", dir}, args...)...)
		if res.code != 2 || res.stderr == "" {
			t.Errorf("%v: want exit 2 with a message: %v", args, res)
		}
	}
}

// Every verb has --help with examples.
func TestCLIHelpExamples(t *testing.T) {
	for _, c := range newRootCommand().Commands() {
		if c.Name() == "help" || c.Hidden {
			continue
		}
		if c.Example == "" || c.Short == "" || c.Long == "" {
			t.Errorf("%s: no example or description", c.Name())
		}
		res := cliExec(t.Context(), "", c.Name(), "--help")
		if res.code != 0 || !strings.Contains(res.stdout, "Examples:") {
			t.Errorf("%s --help: %v", c.Name(), res)
		}
	}
}

var _ = status.StatusPath

// Each verb's --help lists only the flags it uses: --dir and --status-dir
// only where the directory is read.
func TestCLIHelpOnlyUsedFlags(t *testing.T) {
	for _, c := range newRootCommand().Commands() {
		res := cliExec(t.Context(), "", c.Name(), "--help")
		hasDir := strings.Contains(res.stdout, "--dir ")
		if hasDir != readsDir(c.Name()) {
			t.Errorf("%s --help: lists --dir: %v, reads the directory: %v", c.Name(), hasDir, readsDir(c.Name()))
		}
		if strings.Contains(res.stdout, "Global Flags") {
			t.Errorf("%s --help lists global flags:\n%s", c.Name(), res.stdout)
		}
	}
}
