package reconciler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/status"
)

// itNobody is the uid the privilege policy tests give manifests.
const itNobody = 65534

// itStartDaemon is itStart with DaemonOptions of the test's choosing, and a
// stop function that ends the daemon and lets the test start another on the
// same directory (itStart keeps the one-daemon lock until the test ends).
func itStartDaemon(t *testing.T, dir string, tweak func(*DaemonOptions)) (*itDaemon, func()) {
	t.Helper()
	itDaemonMu.Lock()
	d := &itDaemon{t: t, dir: dir, status: dir, log: &itLogBuf{}, reload: make(chan struct{}, 1), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	o := DaemonOptions{Dir: dir, Reload: d.reload, Stdout: os.Stdout, Stderr: os.Stderr, Log: d.log.logger(1)}
	if tweak != nil {
		tweak(&o)
	}
	go func() { d.done <- RunDaemon(ctx, o) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			d.Stop()
			itDaemonMu.Unlock()
			if t.Failed() {
				t.Logf("daemon log (tail):\n%s", itTail(d.log.String(), 150))
			}
		})
	}
	t.Cleanup(func() {
		stop()
		d.mu.Lock()
		names := d.names
		d.mu.Unlock()
		if left := itKillPrograms(names...); len(left) > 0 {
			t.Errorf("processes left running after the daemon returned: %v", left)
		}
	})
	return d, stop
}

// itPolicyDir is a spec directory as the policy wants it: 0755, root's.
func itPolicyDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the privilege policy applies to a daemon running as root")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// itWriteOwned writes dir/name.yaml atomically with the given owner and
// mode: the temp file gets both before it is renamed into place, so the
// daemon never sees the content under another owner.
func itWriteOwned(t *testing.T, dir, name, content string, uid int, mode os.FileMode) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".yaml.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
}

// itUID returns the real uid of process pid (/proc/PID/status).
func itUID(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			return strings.Fields(rest)[0]
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return ""
}

// itLogLines counts the daemon's log lines that hold every one of parts.
func itLogLines(d *itDaemon, parts ...string) int {
	n := 0
	for _, line := range strings.Split(d.log.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// itSpecValid returns a status condition for name's SpecValid with status
// want, reason, and a message holding msg.
func itSpecValid(want, reason, msg string) func(status.ProgramStatus) bool {
	return func(st status.ProgramStatus) bool {
		c := itCondition(st, status.ConditionSpecValid)
		return c.Status == want && c.Reason == reason && strings.Contains(c.Message, msg)
	}
}

// The owner rule with a real daemon: nobody's manifest without user: runs
// as nobody; naming root it is refused (UserNotAllowed) and the last valid
// spec keeps running; a new one naming root runs nothing.
func TestITPolicyOwnerRule(t *testing.T) {
	dir := itPolicyDir(t)
	d, _ := itStartDaemon(t, dir, nil)
	web, evil := d.name("web"), d.name("evil")
	itWriteOwned(t, dir, web, itSpec(`["sleep", "1000"]`, "workingDir: /"), itNobody, 0o644)
	st := itWaitStatus(t, dir, web, "web running", itReady(1))
	pid := itPids(st)[0]
	if uid := itUID(t, pid); uid != "65534" {
		t.Fatalf("nobody's manifest runs as uid %s", uid)
	}

	itWriteOwned(t, dir, web, itSpec(`["sleep", "1000"]`, "workingDir: /", "user: root"), itNobody, 0o644)
	st = itWaitStatus(t, dir, web, "web refused", itSpecValid(status.ConditionFalse, manifest.ReasonUserNotAllowed, "spec.user: names uid 0"))
	if got := itPids(st); len(got) != 1 || got[0] != pid || !itAlive(pid) {
		t.Errorf("the last valid spec no longer runs: pids %v, want [%d]", got, pid)
	}

	itWriteOwned(t, dir, evil, itSpec(`["sleep", "1000"]`, "workingDir: /", "user: root"), itNobody, 0o644)
	st = itWaitStatus(t, dir, evil, "evil refused", itSpecValid(status.ConditionFalse, manifest.ReasonUserNotAllowed, "spec.user: names uid 0"))
	if len(st.Status.Instances) != 0 {
		t.Errorf("a refused manifest runs: %s", itDump(st))
	}
	if n := itLogLines(d, "Invalid manifest", evil+".yaml:"); n != 1 {
		t.Errorf("the refusal of evil is logged %d times, want once", n)
	}
}

// The mode rule with a real daemon: a manifest made 0666 (a chmod, noticed
// like an edit) is refused (InsecureFile) while its last valid spec keeps
// running; the refusal is logged once; fixed, it is valid again and nothing
// restarts.
func TestITPolicyModeRule(t *testing.T) {
	dir := itPolicyDir(t)
	d, _ := itStartDaemon(t, dir, nil)
	web := d.name("web")
	itWriteOwned(t, dir, web, itSpec(`["sleep", "1000"]`), 0, 0o644)
	st := itWaitStatus(t, dir, web, "web running", itReady(1))
	pid := itPids(st)[0]
	path := filepath.Join(dir, web+".yaml")

	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	st = itWaitStatus(t, dir, web, "web refused", itSpecValid(status.ConditionFalse, manifest.ReasonInsecureFile,
		web+".yaml: file "+path+": mode 0666 owner uid 0: writable by group or other"))
	if got := itPids(st); len(got) != 1 || got[0] != pid {
		t.Errorf("the last valid spec no longer runs: pids %v, want [%d]", got, pid)
	}
	// Rescans do not log the refusal again.
	rescans := strings.Count(d.log.String(), `"msg"="Rescanned"`)
	d.reload <- struct{}{}
	waitfor.Condition(t, waitTimeout, func() bool {
		return strings.Count(d.log.String(), `"msg"="Rescanned"`) > rescans
	}, "a rescan")
	if n := itLogLines(d, "Invalid manifest", "mode 0666 owner uid 0"); n != 1 {
		t.Errorf("the refusal is logged %d times, want once", n)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	st = itWaitStatus(t, dir, web, "web valid again", itSpecValid(status.ConditionTrue, "Valid", ""))
	if got := itPids(st); len(got) != 1 || got[0] != pid || !itAlive(pid) {
		t.Errorf("fixing the mode restarted the instance: pids %v, want [%d]", got, pid)
	}
	// A chown to a third user of the directory: refused too.
	if err := os.Chown(dir, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, dir, web, "web refused for its directory", itSpecValid(status.ConditionFalse, manifest.ReasonInsecureFile,
		"directory "+dir+": mode 0755 owner uid 1000: not owned by root"))
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, dir, web, "web valid again", itSpecValid(status.ConditionTrue, "Valid", ""))
}

// --trust-all-owners: nobody's manifest may name root (and runs as root);
// the mode rule stays.
func TestITPolicyTrustAllOwners(t *testing.T) {
	dir := itPolicyDir(t)
	d, _ := itStartDaemon(t, dir, func(o *DaemonOptions) { o.TrustAllOwners = true })
	web := d.name("web")
	itWriteOwned(t, dir, web, itSpec(`["sleep", "1000"]`, "workingDir: /", "user: root"), itNobody, 0o644)
	st := itWaitStatus(t, dir, web, "web running", itReady(1))
	if uid := itUID(t, itPids(st)[0]); uid != "0" {
		t.Errorf("runs as uid %s, want 0", uid)
	}
	if err := os.Chmod(filepath.Join(dir, web+".yaml"), 0o646); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, dir, web, "web refused", itSpecValid(status.ConditionFalse, manifest.ReasonInsecureFile, "mode 0646 owner uid 65534"))
}

// Last-known-good survives the daemon: restarted while the manifest is
// invalid, the daemon runs the program's last valid spec (SpecValid False
// with the error) from .reconciled/lastgood; a manifest owned by nobody keeps
// running as nobody from its copy.
func TestITLastGoodAcrossRestart(t *testing.T) {
	dir := itPolicyDir(t)
	d, stop := itStartDaemon(t, dir, nil)
	web, job := d.name("web"), d.name("job")
	itWriteOwned(t, dir, web, itSpec(`["sleep", "1000"]`, "replicas: 2"), 0, 0o644)
	itWriteOwned(t, dir, job, itSpec(`["sleep", "1000"]`, "workingDir: /"), itNobody, 0o644)
	itWaitStatus(t, dir, web, "web running", itReady(2))
	itWaitStatus(t, dir, job, "job running", itReady(1))
	copyPath := filepath.Join(dir, StateDirName, LastGoodDirName, web+".yaml")
	for path, want := range map[string]os.FileMode{filepath.Dir(copyPath): os.ModeDir | 0o700, copyPath: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Fatalf("%s: %v, want mode %v", path, err, want)
		}
	}
	stop()

	itWriteOwned(t, dir, web, "spec:\n  replicas: [\n", 0, 0o644)
	itWriteOwned(t, dir, job, "spec:\n  command: 7\n", itNobody, 0o644)
	d, _ = itStartDaemon(t, dir, nil)
	d.track(web, job)
	st := itWaitStatus(t, dir, web, "web runs its last valid spec", func(st status.ProgramStatus) bool {
		return itReady(2)(st) && itSpecValid(status.ConditionFalse, "Invalid", web+".yaml:")(st)
	})
	if !strings.Contains(d.log.String(), "running its last valid spec") {
		t.Errorf("the daemon does not say it runs a kept spec")
	}
	st = itWaitStatus(t, dir, job, "job runs its last valid spec", func(st status.ProgramStatus) bool {
		return itReady(1)(st) && itSpecValid(status.ConditionFalse, "Invalid", "spec.command")(st)
	})
	if uid := itUID(t, itPids(st)[0]); uid != "65534" {
		t.Errorf("job's kept spec runs as uid %s, want 65534", uid)
	}
	itRemove(t, dir, web)
	waitfor.Condition(t, waitTimeout, func() bool { _, err := os.Lstat(copyPath); return os.IsNotExist(err) }, "web's copy removed with its manifest")
}
