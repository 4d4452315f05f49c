package reconciler

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// The daemon as a whole: the lock, reload, status files, secrets, SIGKILL of
// the daemon itself, and scale.

func TestITLocked(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("locked")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	err := RunDaemon(ctx, DaemonOptions{Dir: d.dir, Log: logr.Discard()})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second RunDaemon: %v, want ErrLocked", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("second RunDaemon returned only at its deadline")
	}
	if !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder's pid", err)
	}
	if held, pid := Held(filepath.Join(d.dir, StateDirName)); !held || pid != os.Getpid() {
		t.Errorf("Held = %v, %d", held, pid)
	}
	// The first daemon is unaffected.
	if now := itWaitStatus(t, d.dir, name, "running", itReady(1)); itPids(now)[0] != itPids(st)[0] {
		t.Errorf("instance restarted")
	}
	d.Stop()
	if held, _ := Held(filepath.Join(d.dir, StateDirName)); held {
		t.Errorf("lock still held after shutdown")
	}
	if left := Daemons(filepath.Join(d.dir, StateDirName)); len(left) > 0 {
		t.Errorf("daemons registered after shutdown: %v", left)
	}
}

// The Reload channel (SIGHUP) rescans: here after a change the watcher cannot
// see, the target of a symlinked manifest outside the directory.
func TestITReload(t *testing.T) {
	d := itStart(t, itOpts{resync: time.Hour})
	name := d.name("reload")
	outside := t.TempDir()
	itWrite(t, outside, name, itSpec(`["sleep", "1000"]`))
	if err := os.Symlink(filepath.Join(outside, name+".yaml"), filepath.Join(d.dir, name+".yaml")); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, d.dir, name, "running", itReadyCmd(1, "sleep", "1000"))

	itWrite(t, outside, name, itSpec(`["sleep", "1001"]`))
	if !waitfor.Never(300*time.Millisecond, func() bool {
		return itCount(itEvents(t, d.dir, name), "SpecChanged", "*") > 0
	}) {
		t.Fatalf("the change was seen without a reload: the test proves nothing")
	}
	d.reload <- struct{}{}
	itWaitStatus(t, d.dir, name, "sleep 1001 after reload", itReadyCmd(1, "sleep", "1001"))
}

func itStatIno(t *testing.T, path string) (uint64, time.Time) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino, fi.ModTime()
}

// Status files are rewritten only when their content changes: resyncs and
// passes with nothing new leave them alone.
func TestITStatusWrittenOnlyOnChange(t *testing.T) {
	d := itStart(t, itOpts{resync: 100 * time.Millisecond})
	name := d.name("quiet")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	itWaitStatus(t, d.dir, name, "running", itReady(2))
	path := status.StatusPath(d.dir, name)
	// The last transitions may still be on their way (writes are coalesced
	// for up to 100ms): wait for a quiet 300ms first.
	ino, mtime := itStatIno(t, path)
	rewritten := func() bool {
		i, m := itStatIno(t, path)
		changed := i != ino || !m.Equal(mtime)
		ino, mtime = i, m
		return changed
	}
	if !waitfor.Until(waitTimeout, func() bool { return waitfor.Never(300*time.Millisecond, rewritten) }) {
		t.Fatalf("the status file was never quiet for 300ms")
	}
	events, _ := os.Stat(status.EventsPath(d.dir, name))
	// Touch the manifest too: a rescan reads it again, nothing changes.
	now := time.Now()
	if err := os.Chtimes(filepath.Join(d.dir, name+".yaml"), now, now); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // makes time pass: the negative check, some 15 resyncs
	if i, m := itStatIno(t, path); i != ino || !m.Equal(mtime) {
		t.Errorf("status file rewritten with nothing changed (inode %d -> %d, mtime %v -> %v)", ino, i, mtime, m)
	}
	if ev, _ := os.Stat(status.EventsPath(d.dir, name)); ev.Size() != events.Size() {
		t.Errorf("events written with nothing changed:\n%s", itEventsString(itEvents(t, d.dir, name)))
	}
}

// Status files are replaced atomically: a reader never sees a missing or
// partial file, and a storm of changes costs a bounded number of writes.
func TestITStatusAtomic(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("churn")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "sleep 0.03"]`, "replicas: 5", "startSeconds: 10ms", "restartDelay: 10ms"))
	path := status.StatusPath(d.dir, name)
	itWaitStatus(t, d.dir, name, "restarting", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return ok && in.Restarts > 0
	})
	// A write is a new inode, but ext4 reuses a freed inode number at once:
	// tell writes apart by inode and mtime.
	type version struct {
		ino   uint64
		mtime time.Time
	}
	inodes := map[version]bool{}
	reads := 0
	start := time.Now()
	// Read as fast as we can, to catch a partial file if there is one, for
	// at least 1.5s of churn (makes time pass: the cap below needs a window
	// longer than a few writes) and until 3 writes have been seen.
	for time.Since(start) < 1500*time.Millisecond || len(inodes) < 3 {
		if time.Since(start) > waitTimeout {
			t.Fatalf("only %d status writes seen in %v of churn", len(inodes), waitTimeout)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if _, err := status.Parse(data); err != nil {
			t.Fatalf("read %d: a partial status file: %v\n%s", reads, err, data)
		}
		ino, mtime := itStatIno(t, path)
		inodes[version{ino, mtime}] = true
		reads++
	}
	elapsed := time.Since(start)
	// 5 instances restarting every ~50ms: some 100 transitions a second,
	// coalesced into one write per 100ms at most.
	if max := int(elapsed/(100*time.Millisecond)) + 3; len(inodes) > max {
		t.Errorf("%d status writes in %v, want at most %d (coalesced)", len(inodes), elapsed, max)
	}
	t.Logf("%d reads, %d writes seen", reads, len(inodes))
	d.Stop()
	if tmps, _ := filepath.Glob(filepath.Join(d.dir, ".*.tmp*")); len(tmps) > 0 {
		t.Errorf("temp files left: %v", tmps)
	}
}

// itNoSecret checks the daemon's files and its log for secret.
func itNoSecret(t *testing.T, d *itDaemon, secret string) {
	t.Helper()
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".status.yaml") && !strings.Contains(n, ".events.jsonl") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s contains the secret:\n%s", n, b)
		}
	}
	for _, line := range strings.Split(d.log.String(), "\n") {
		if strings.Contains(line, secret) {
			t.Errorf("daemon log contains the secret: %s", line)
		}
	}
}

// Env values never reach status, events or the daemon's log, whatever the
// instances do (start, fail, back off, roll) and whatever the log level.
func TestITSecretsNeverLeak(t *testing.T) {
	d := itStart(t, itOpts{verbosity: 10})
	name := d.name("secret")
	env := `env: {SECRET: hunter2, DERIVED: "x-$(SECRET)"}`
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "sleep 0.2; exit 3"]`, env, "replicas: 2", "startSeconds: 300ms", "startRetries: 2"))
	itWaitStatus(t, d.dir, name, "FATAL", func(st status.ProgramStatus) bool { return st.Status.Phase == "Failed" })
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exec sleep 1000"]`, env, "replicas: 20000"))
	itWaitStatus(t, d.dir, name, "invalid", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionSpecValid).Status == status.ConditionFalse
	})
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exec sleep 1000"]`, env, "replicas: 2"))
	itWaitStatus(t, d.dir, name, "running", itReady(2))
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exec sleep 1000"]`, env, "replicas: 1"))
	itWaitStatus(t, d.dir, name, "scaled", itReady(1))
	d.Stop()
	itNoSecret(t, d, "hunter2")
}

// A malformed env (the value where a mapping belongs) is reported without
// the value.
func TestITSecretNotLeakedByInvalidEnv(t *testing.T) {
	d := itStart(t, itOpts{verbosity: 10})
	name := d.name("secretbad")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "env: SECRET=hunter2"))
	itWaitStatus(t, d.dir, name, "invalid", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionSpecValid).Status == status.ConditionFalse
	})
	itWaitEvents(t, d.dir, name, "SpecInvalid", itHasReason("SpecInvalid", ""))
	d.Stop()
	itNoSecret(t, d, "hunter2")
}

// SIGKILL of the daemon: its direct children die with it (parent-death
// signal); what they left in their groups is killed by the next daemon,
// from the pids and start times in the status files.
func TestITDaemonSIGKILL(t *testing.T) {
	dir := t.TempDir()
	direct, gcProg := "direct-"+strconv.Itoa(os.Getpid()), "gc-"+strconv.Itoa(os.Getpid())
	t.Cleanup(func() { itKillPrograms(direct, gcProg) })
	itWrite(t, dir, direct, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	itWrite(t, dir, gcProg, itSpec(`["sh", "-c", "sleep 1000 & exec sleep 1000"]`))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), itDaemonDirEnv+"="+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var childLog strings.Builder
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			childLog.WriteString(sc.Text() + "\n")
			logMu.Unlock()
		}
	}()
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			<-copied
			_ = cmd.Wait()
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("child daemon log:\n%s", itTail(childLog.String(), 100))
			logMu.Unlock()
		}
	})

	st := itWaitStatus(t, dir, direct, "direct running", itReady(2))
	var directProcs []itProc
	for _, pid := range itPids(st) {
		directProcs = append(directProcs, itRef(t, pid))
	}
	st = itWaitStatus(t, dir, gcProg, "gc running", itReady(1))
	leader := itRef(t, itPids(st)[0])
	var gc itProc
	for _, p := range itWaitGroup(t, leader.pid, 2) {
		if p.pid != leader.pid {
			gc = p
		}
	}
	if s, _ := itReadStat(gc.pid); s.ppid != leader.pid {
		t.Fatalf("grandchild %d: parent %d, want the leader %d", gc.pid, s.ppid, leader.pid)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-copied
	_ = cmd.Wait()
	killed = true
	itWaitGone(t, "the daemon's children (parent-death signal)", append(directProcs, leader)...)
	if !gc.alive() {
		t.Fatalf("the grandchild died with the daemon: the test proves nothing")
	}

	// The next daemon ends the grandchild before it starts anything.
	d := itStart(t, itOpts{dir: dir})
	d.track(direct, gcProg)
	itWaitGone(t, "the grandchild, after the next daemon start", gc)
	if !strings.Contains(d.log.String(), "Killing a stale process") {
		t.Errorf("the cleanup is not logged")
	}
	st = itWaitStatus(t, dir, direct, "direct running again", func(st status.ProgramStatus) bool {
		return itReady(2)(st) && itPids(st)[0] != directProcs[0].pid
	})
	st = itWaitStatus(t, dir, gcProg, "gc running again", func(st status.ProgramStatus) bool {
		return itReady(1)(st) && itPids(st)[0] != leader.pid
	})
	// Exactly one group of gc runs: the new one.
	if g := itGroup(itPids(st)[0]); len(g) != 2 {
		t.Errorf("new gc group %v", g)
	}
}

// 0 -> 1000 -> 0 instances: all run, all stop, no zombie and no fd is left.
func TestITScale1000(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	zombiesBefore := map[int]bool{}
	for _, pid := range itZombies() {
		zombiesBefore[pid] = true
	}
	fdsBefore := itFdCount(t)
	d := itStart(t, itOpts{})
	name := d.name("many")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 0"))
	itWaitStatus(t, d.dir, name, "0 replicas", func(st status.ProgramStatus) bool { return st.Status.Phase == "Stopped" })

	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 1000"))
	poll := func(what string, cond func(status.ProgramStatus) bool) status.ProgramStatus {
		t.Helper()
		var st status.ProgramStatus
		// The file is large: read it less often.
		if !waitfor.UntilEvery(60*time.Second, 100*time.Millisecond, func() bool {
			var err error
			st, err = status.ReadFile(status.StatusPath(d.dir, name))
			return err == nil && cond(st)
		}) {
			t.Fatalf("timed out waiting for %s: phase %s, %d ready of %d, %d instances", what,
				st.Status.Phase, st.Status.ReadyReplicas, st.Status.Replicas, len(st.Status.Instances))
		}
		return st
	}
	st := poll("1000 running", func(st status.ProgramStatus) bool {
		return st.Status.ReadyReplicas == 1000 && st.Status.Phase == "Running"
	})
	var procs []itProc
	for _, in := range st.Status.Instances {
		if in.State != string(Running) {
			t.Fatalf("%s is %s", in.Name, in.State)
		}
		procs = append(procs, itRef(t, in.Pid))
	}
	if len(procs) != 1000 {
		t.Fatalf("%d instances", len(procs))
	}

	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 0"))
	poll("0 instances", func(st status.ProgramStatus) bool {
		return st.Status.Phase == "Stopped" && len(st.Status.Instances) == 0
	})
	for _, p := range procs {
		if p.alive() {
			t.Fatalf("pid %d still alive", p.pid)
		}
	}
	if z := itNewZombies(zombiesBefore); len(z) > 0 {
		t.Errorf("zombies while the daemon runs: %v", z)
	}
	if fds := itFdCount(t); fds > fdsBefore+20 {
		t.Errorf("%d fds open with 0 instances, %d before the daemon started", fds, fdsBefore)
	}
	d.Stop()
	if z := itNewZombies(zombiesBefore); len(z) > 0 {
		t.Errorf("zombies after shutdown: %v", z)
	}
	// The race detector and the runtime may keep a few fds of their own.
	if !waitfor.Until(waitTimeout, func() bool { return itFdCount(t) <= fdsBefore+3 }) {
		ents, _ := os.ReadDir("/proc/self/fd")
		var links []string
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			links = append(links, e.Name()+"->"+l)
		}
		t.Errorf("%d fds after shutdown, %d before: %v", itFdCount(t), fdsBefore, links)
	}
}

func itNewZombies(before map[int]bool) []int {
	var out []int
	for _, pid := range itZombies() {
		if !before[pid] {
			out = append(out, pid)
		}
	}
	return out
}
