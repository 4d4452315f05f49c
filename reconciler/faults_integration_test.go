package reconciler

// Fault injection (docs/reference.md, "Faults"): the status directory full
// (ENOSPC) or read-only (EROFS), the daemon out of file descriptors
// (EMFILE), the inotify queue overflowing. In each the processes keep
// running, the daemon says what is wrong and retries, and everything is
// as it should be once the fault clears, with no other change to prompt
// it. They need root (mounts, prlimit on another process, sysctl) and skip
// without it.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

func itNeedRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// itMount mounts and unmounts at cleanup (lazily if it is busy). A mount
// that is not permitted (a container without CAP_SYS_ADMIN) skips the test.
func itMount(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("mount %s: %v", target, err)
		}
		t.Fatalf("mount %s on %s: %v", source, target, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(target, 0); err != nil {
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", target, err)
			}
		}
	})
}

// itFill fills the file system of dir with one file until it is full, and
// returns the file's path.
func itFill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, ".filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, unix.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}

// itWaitLog waits until the daemon's log holds want.
func itWaitLog(t *testing.T, log func() string, want string) {
	t.Helper()
	waitfor.Condition(t, waitTimeout, func() bool { return strings.Contains(log(), want) }, "the daemon to log %q", want)
}

// itStatusFault runs one program while break_ makes the status directory
// unwritable: the scale-up it asks for happens all the same, the daemon
// logs the failure, and once mend is called the status file becomes fresh
// with nothing else changing.
func itStatusFault(t *testing.T, d *itDaemon, breakIt, mend func(), errno string) {
	t.Helper()
	name := d.name("fault")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`))
	st := itWaitStatus(t, d.status, name, "ready", itReady(1))
	first := itRef(t, itPids(st)[0])

	breakIt()
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	waitfor.Condition(t, waitTimeout, func() bool { return len(itPidsOf(name)) == 2 }, "the second instance to run")
	itWaitLog(t, d.log.String, errno)
	itWaitLog(t, d.log.String, "Write status failed")
	if st, err := status.ReadFile(status.StatusPath(d.status, name)); err != nil || len(st.Status.Instances) != 1 {
		t.Fatalf("the status was written during the fault: %v %v", st.Status.Instances, err)
	}

	mend()
	itWaitStatus(t, d.status, name, "2 ready, with no other change", itReady(2))
	itWaitEvents(t, d.status, name, "the events of the fault", itHasReason("Started", name+"-1"))
	itWaitLog(t, d.log.String, "Written again after failing")
	if !first.alive() {
		t.Errorf("the first instance did not survive the fault")
	}
}

// The status directory is a 64 KiB tmpfs, filled up.
func TestITStatusDirFull(t *testing.T) {
	itNeedRoot(t)
	statusDir := filepath.Join(t.TempDir(), "status")
	if err := os.Mkdir(statusDir, 0o755); err != nil {
		t.Fatal(err)
	}
	itMount(t, "tmpfs", statusDir, "tmpfs", 0, "size=64k")
	d := itStart(t, itOpts{statusDir: statusDir})
	var filler string
	itStatusFault(t, d,
		func() { filler = itFill(t, statusDir) },
		func() {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		},
		"no space left on device")
}

// The status directory is a bind mount made read-only (its .reconciled/,
// another bind mount, stays writable: the lock file open for writing
// would keep the remount from happening).
func TestITStatusDirReadOnly(t *testing.T) {
	itNeedRoot(t)
	base := t.TempDir()
	x, y, statusDir := filepath.Join(base, "x"), filepath.Join(base, "y"), filepath.Join(base, "status")
	for _, p := range []string{x, y, statusDir} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	itMount(t, x, statusDir, "", unix.MS_BIND, "")
	state := filepath.Join(statusDir, StateDirName)
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	itMount(t, y, state, "", unix.MS_BIND, "")
	d := itStart(t, itOpts{statusDir: statusDir})
	remount := func(flags uintptr) func() {
		return func() {
			// EBUSY while the writer has a file open for writing there
			// (an events append): try again.
			var err error
			waitfor.Until(waitTimeout, func() bool {
				err = unix.Mount("", statusDir, "", unix.MS_REMOUNT|unix.MS_BIND|flags, "")
				return !errors.Is(err, unix.EBUSY)
			})
			if err != nil {
				t.Fatalf("remount %s: %v", statusDir, err)
			}
		}
	}
	itStatusFault(t, d, remount(unix.MS_RDONLY), remount(0), "read-only file system")
}

// itChildDaemon runs the daemon in a process of its own on dir (see
// TestMain), with env added to its environment, and returns it with its
// log; at cleanup it is killed if still running.
func itChildDaemon(t *testing.T, dir string, env ...string) (*exec.Cmd, func() string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), itDaemonDirEnv+"="+dir), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var b strings.Builder
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			mu.Lock()
			b.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	log := func() string {
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			// SIGTERM first: a daemon that shuts down removes its cgroups
			// (a SIGKILLed one leaves them to the next daemon of the
			// directory, and there is none after the test).
			_ = cmd.Process.Signal(syscall.SIGTERM)
			exited := make(chan struct{})
			go func() {
				<-copied
				_ = cmd.Wait()
				close(exited)
			}()
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		if t.Failed() {
			t.Logf("child daemon log:\n%s", itTail(log(), 100))
		}
	})
	return cmd, log
}

// itSpareFdLimit is the RLIMIT_NOFILE that leaves process pid spare free
// file descriptors: the number of its spare+1-th unused descriptor.
func itSpareFdLimit(t *testing.T, pid, spare int) uint64 {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	used := map[uint64]bool{}
	for _, e := range ents {
		if n, err := strconv.ParseUint(e.Name(), 10, 64); err == nil {
			used[n] = true
		}
	}
	n := uint64(0)
	for free := 0; ; n++ {
		if !used[n] {
			if free == spare {
				return n
			}
			free++
		}
	}
}

// itLowerFdLimit lowers the RLIMIT_NOFILE of process pid to limit, and
// returns the function that restores it (also run at cleanup).
func itLowerFdLimit(t *testing.T, pid int, limit uint64) func() {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &old, nil); err != nil && !errors.Is(err, unix.ESRCH) {
				t.Errorf("restore the limit: %v", err)
			}
		}
	}
	t.Cleanup(restore)
	low := unix.Rlimit{Cur: limit, Max: old.Max}
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		t.Fatal(err)
	}
	return restore
}

// The daemon short of file descriptors (RLIMIT_NOFILE lowered under it to
// leave two spare: enough to read a manifest and write its files, not to
// start a process): a scale-up's new instances cannot start. They wait in
// BACKOFF with a message that names the limit, its value and how to raise
// it, and keep retrying past startRetries (the limit is not the program's
// failure: no FATAL); the program gets one ResourceLimit event, not one per
// instance and retry; the others run on; once the limit is back the starts
// succeed on their own.
func TestITEMFILE(t *testing.T) {
	itNeedRoot(t)
	dir := t.TempDir()
	name := "emfile-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { itKillPrograms(name) })
	spec := func(replicas string) string {
		return itSpec(`["sleep", "1000"]`, "replicas: "+replicas, "startRetries: 2", "maxRestartDelay: 200ms")
	}
	itWrite(t, dir, name, spec("2"))
	cmd, log := itChildDaemon(t, dir)
	itWaitLog(t, log, "Open-files limit")
	st := itWaitStatus(t, dir, name, "2 ready", itReady(2))
	var running []itProc
	for _, pid := range itPids(st) {
		running = append(running, itRef(t, pid))
	}
	daemon := cmd.Process.Pid

	limit := itSpareFdLimit(t, daemon, 2)
	restore := itLowerFdLimit(t, daemon, limit)
	itWrite(t, dir, name, spec("4"))
	says := fmt.Sprintf("open-files limit is reached (RLIMIT_NOFILE soft %d, ", limit)
	itWaitStatus(t, dir, name, "starts that keep failing on the limit, past startRetries", func(st status.ProgramStatus) bool {
		for _, i := range []int{2, 3} {
			in, ok := itInstance(st, i)
			if !ok || in.State != "BACKOFF" || in.Restarts < 4 || !strings.Contains(in.Message, says) || !strings.Contains(in.Message, "LimitNOFILE=") {
				return false
			}
		}
		return true
	})
	restore()
	itWaitStatus(t, dir, name, "4 ready", itReady(4))
	evs := itWaitEvents(t, dir, name, "the events", func([]status.Event) bool { return true })
	limits := 0
	for _, ev := range evs {
		switch {
		case ev.Reason == ReasonResourceLimit:
			limits++
			if !strings.Contains(ev.Message, says) {
				t.Errorf("ResourceLimit event %q does not name the limit", ev.Message)
			}
		case ev.Reason == "Exited" || ev.Reason == "BackOff" || ev.Reason == "Fatal":
			t.Errorf("a start stopped by the limit made a %s event: %q", ev.Reason, ev.Message)
		}
	}
	if limits != 1 {
		t.Errorf("%d ResourceLimit events, want 1 for the program", limits)
	}
	for _, p := range running {
		if !p.alive() {
			t.Errorf("instance %d did not survive the fault", p.pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the daemon exited with %v after the fault", err)
	}
}

// The daemon with no descriptor to spare: it can neither start the
// instance that died nor write its files, nor see that instance's cgroup
// empty (cgroup.events cannot be read). It logs the errno, and once the
// limit is back, everything resumes on its own: the cgroup is read again
// (cgroup.EmptyWatcher's recheck), the instance starts, status catches up,
// and the daemon still shuts down cleanly.
func TestITEMFILENoneSpare(t *testing.T) {
	itNeedRoot(t)
	dir := t.TempDir()
	name := "emfile0-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { itKillPrograms(name) })
	// stopTimeout 10ms: the wait for the dead instance's cgroup to be
	// empty times out at once, and the one after the SIGKILL, which has no
	// timeout, starts while the fault lasts; it is that wait the recheck
	// must end.
	itWrite(t, dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2", "startRetries: 0", "maxRestartDelay: 500ms", "stopTimeout: 10ms"))
	cmd, log := itChildDaemon(t, dir)
	st := itWaitStatus(t, dir, name, "2 ready", itReady(2))
	victim, other := itRef(t, itPids(st)[0]), itRef(t, itPids(st)[1])
	// 3: not even the descriptors the dead instance frees (its pipes,
	// numbered above 2) can be had.
	restore := itLowerFdLimit(t, cmd.Process.Pid, 3)
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	itWaitLog(t, log, "Write status failed")
	itWaitLog(t, log, "too many open files")
	restore()
	itWaitStatus(t, dir, name, "2 ready again", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return itReady(2)(st) && ok && in.Pid != victim.pid
	})
	if !other.alive() {
		t.Errorf("the other instance did not survive the fault")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the daemon exited with %v after the fault", err)
	}
}

// An inotify queue overflow (max_queued_events set to 1 while the daemon
// makes its watch, restored at once): the daemon logs it and rescans, and
// every program converges with no periodic resync to help (1h).
func TestITInotifyOverflow(t *testing.T) {
	itNeedRoot(t)
	const sysctl = "/proc/sys/fs/inotify/max_queued_events"
	was, err := os.ReadFile(sysctl)
	if err != nil {
		t.Skipf("read %s: %v", sysctl, err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := os.WriteFile(sysctl, was, 0o644); err != nil {
				t.Errorf("restore %s: %v", sysctl, err)
			}
		}
	}
	t.Cleanup(restore)
	if err := os.WriteFile(sysctl, []byte("1\n"), 0o644); err != nil {
		t.Skipf("write %s: %v", sysctl, err)
	}
	d := itStart(t, itOpts{resync: time.Hour})
	itWaitLog(t, d.log.String, "Watching directory")
	restore() // other inotify users on this machine get the usual queue

	var names []string
	for range 30 {
		names = append(names, d.name("flood"))
	}
	for i := 0; !strings.Contains(d.log.String(), "Event queue overflowed, rescanning"); i++ {
		if i == 50 {
			t.Fatalf("no overflow after %d bursts", i)
		}
		for _, n := range names {
			itWrite(t, d.dir, n, itSpec(`["sleep", "1000"]`, "replicas: "+strconv.Itoa(1+i%2)))
		}
	}
	// The last burst is what must run.
	want := 0
	for _, n := range names {
		st, err := os.ReadFile(filepath.Join(d.dir, n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(st), "replicas: 2") {
			want = 2
		} else {
			want = 1
		}
		itWaitStatus(t, d.dir, n, "converged", itReady(want))
	}
}
