package reconciler

// Integration tests of hostile directory contents (docs/reference.md,
// "Hostile files"): manifests that cannot be read, and things that are not
// regular files under the daemon's own file names.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// itPidsOf returns the live processes of this test binary's daemons that
// are instances of program name (by their environment marks).
func itPidsOf(name string) []int {
	var out []int
	for _, pid := range itListPids() {
		if !itAlive(pid) {
			continue
		}
		if prog, ok := itEnvValue(pid, "RECONCILED_PROGRAM"); !ok || prog != name {
			continue
		}
		if owner, _ := itEnvValue(pid, itOwnerEnv); owner == itOwner {
			out = append(out, pid)
		}
	}
	return out
}

// itSpecInvalid waits until name's SpecValid condition is False with reason.
func itSpecInvalid(t *testing.T, dir, name, reason string) status.ProgramStatus {
	t.Helper()
	return itWaitStatus(t, dir, name, "SpecValid False, "+reason, func(st status.ProgramStatus) bool {
		c := itCondition(st, status.ConditionSpecValid)
		return c.Status == status.ConditionFalse && c.Reason == reason
	})
}

// A manifest that is there but cannot be read is not a deletion: whether it
// became a FIFO (behind a link), a link loop (ELOOP, standing for EACCES,
// EIO and the rest: root reads through any mode), its instances keep
// running, untouched, and the error is reported. Fixed, it is valid again.
func TestITUnreadableManifestKeepsRunning(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("vic")
	manifest := filepath.Join(d.dir, name+".yaml")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	st := itWaitStatus(t, d.dir, name, "2 ready", itReady(2))
	var procs []itProc
	for _, pid := range itPids(st) {
		procs = append(procs, itRef(t, pid))
	}
	elsewhere := t.TempDir()
	fifo := filepath.Join(elsewhere, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ target, reason string }{
		{fifo, "NotRegularFile"},
		{"/dev/zero", "NotRegularFile"},
		{name + ".yaml", "Unreadable"}, // a link to itself: ELOOP
	} {
		tmp := filepath.Join(d.dir, "."+name+".link")
		if err := os.Symlink(c.target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, manifest); err != nil {
			t.Fatal(err)
		}
		st = itSpecInvalid(t, d.dir, name, c.reason)
		for _, p := range procs {
			if !p.alive() {
				t.Fatalf("%s: instance %d stopped: an unreadable manifest was taken as deleted", c.target, p.pid)
			}
		}
		if len(st.Status.Instances) != 2 {
			t.Errorf("%s: %d instances in the status, want 2", c.target, len(st.Status.Instances))
		}
	}
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	itWaitStatus(t, d.dir, name, "valid again", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionSpecValid).Status == status.ConditionTrue && itReady(2)(st)
	})
	for _, p := range procs {
		if !p.alive() {
			t.Errorf("instance %d restarted by the round trip", p.pid)
		}
	}
	evs := itEvents(t, d.dir, name)
	if n := itCount(evs, "Deleted", "*") + itCount(evs, "Stopped", "*"); n != 0 {
		t.Errorf("%d Deleted/Stopped events:\n%s", n, itEventsString(evs))
	}
}

// Things that are not regular files, named like manifests or like the
// daemon's own files, before the daemon starts and while it runs: nothing
// blocks, nothing is read from them, the daemon starts its programs, reports
// the manifests it cannot read, replaces what is in the way of its own
// files, and shuts down in time (itStart's cleanup checks that).
func TestITHostileFilesInTheDirectory(t *testing.T) {
	dir := t.TempDir()
	mk := func(base, what string) {
		t.Helper()
		p := filepath.Join(dir, base)
		var err error
		switch what {
		case "fifo":
			err = syscall.Mkfifo(p, 0o644)
		case "zero":
			err = os.Symlink("/dev/zero", p)
		case "dir":
			err = os.Mkdir(p, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// The daemon's own state, before it ever ran.
	if err := os.Mkdir(filepath.Join(dir, StateDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	mk(filepath.Join(StateDirName, "daemon-id"), "fifo")
	mk(filepath.Join(StateDirName, "pid"), "zero")
	mk(filepath.Join(StateDirName, "cgroup"), "zero")
	mk("x.status.yaml", "fifo")
	mk("y.status.yaml", "zero")
	mk("pipe.yaml", "fifo")
	mk("zero.yaml", "zero")
	mk("sub.yaml", "dir")
	mk("scalar-ok.events.jsonl", "fifo")
	itWrite(t, dir, "scalar-ok", "hunter2-xyz\n")

	d := itStart(t, itOpts{dir: dir})
	name := d.name("ok")
	mk(name+".events.jsonl", "fifo")
	itWrite(t, dir, name, itSpec(`["sleep", "1000"]`))
	itWaitStatus(t, dir, name, "ready", itReady(1))
	itSpecInvalid(t, dir, "pipe", "NotRegularFile")
	itSpecInvalid(t, dir, "zero", "NotRegularFile")
	itSpecInvalid(t, dir, "scalar-ok", "Invalid")
	if _, err := os.Stat(status.StatusPath(dir, "sub")); err == nil {
		t.Errorf("a directory named sub.yaml got a status file: it is ignored")
	}
	if fi, err := os.Lstat(filepath.Join(dir, name+".events.jsonl")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the FIFO in the way of the events file is still there: %v %v", fi, err)
	}
	if !strings.Contains(d.log.String(), "Replaced a file in the way of an events file") {
		t.Errorf("the replacement is not logged")
	}

	// While it runs: the events file becomes a FIFO, a status file a link
	// to /dev/zero. The daemon goes on writing both.
	events := filepath.Join(dir, name+".events.jsonl")
	if err := os.Remove(events); err != nil {
		t.Fatal(err)
	}
	mk(name+".events.jsonl", "fifo")
	if err := os.Remove(status.StatusPath(dir, name)); err != nil {
		t.Fatal(err)
	}
	mk(name+".status.yaml", "zero")
	itWrite(t, dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	itWaitStatus(t, dir, name, "2 ready", itReady(2))
	itWaitEvents(t, dir, name, "the second start", itHasReason("Started", name+"-1"))
	waitfor.Condition(t, waitTimeout, func() bool {
		fi, err := os.Lstat(events)
		return err == nil && fi.Mode().IsRegular()
	}, "the events file to be a regular file again")

	d.Stop()
	// itNoSecret reads every status and events file as a plain file:
	// take away the FIFO and the link the daemon had no reason to touch.
	for _, base := range []string{"x.status.yaml", "y.status.yaml"} {
		if err := os.Remove(filepath.Join(dir, base)); err != nil {
			t.Fatal(err)
		}
	}
	itNoSecret(t, d, "hunter2")
}

// .reconciled/lock, a daemon's entry and a program's lock that are not
// regular files: the lock is refused with what it is (a daemon does not
// start on a FIFO it cannot lock for sure), an entry that is a link or a
// FIFO counts as no daemon, and a program lock that is a link is refused,
// never followed.
func TestHostileLockAndPid(t *testing.T) {
	state := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(state, "lock"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(state); err == nil || !strings.Contains(err.Error(), "is a FIFO, not a regular file") {
		t.Fatalf("Lock on a FIFO = %v", err)
	}
	if held, _ := Held(state); held {
		t.Errorf("a FIFO lock counts as held")
	}
	if err := os.Remove(filepath.Join(state, "lock")); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "daemons"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(state, "daemons", "1")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(state, "daemons", "2"), 0o644); err != nil {
		t.Fatal(err)
	}
	unlock, err := Lock(state)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if held, pid := Held(state); !held || pid != os.Getpid() {
		t.Errorf("Held = %v, %d; want this process (pid %d), not a link or a FIFO", held, pid, os.Getpid())
	}
	c, err := newClaims(state)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(state, "locks", "web")); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := c.claim("web"); ok || err == nil {
		t.Errorf("claim through a link = %v, %v", ok, err)
	}
	if data, _ := os.ReadFile(victim); string(data) != "keep\n" {
		t.Errorf("the victim was written through a link: %q", data)
	}
	if pid := ProgramOwner(state, "web"); pid != 0 {
		t.Errorf("ProgramOwner of a link = %d", pid)
	}
}
