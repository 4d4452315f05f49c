//go:build cgo

package proc

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// serverThreads returns the fork server's threads, failing the test when
// testStarter does not use the server.
func serverThreads(t *testing.T) []int {
	t.Helper()
	cur := testStarter.forker()
	fs, ok := cur.(*forkServer)
	if !ok {
		t.Fatalf("testStarter forks on %s, not on the fork server", forkerName(cur))
	}
	return fs.threads()
}

// checkServerTables checks that every server thread's fd table is small:
// stdio, a pidfd, /dev/null and the eventfd, plus the copies of a start in
// flight.
func checkServerTables(t *testing.T) {
	t.Helper()
	tids := serverThreads(t)
	if len(tids) != maxForkThreads() {
		t.Errorf("%d server threads, want %d", len(tids), maxForkThreads())
	}
	for _, tid := range tids {
		if n := countFds(t, tid); n > 9 {
			t.Errorf("server thread %d holds %d fds", tid, n)
		}
	}
}

// TestForkServerTable checks that instances are forked by the fork server,
// whose threads' fd tables stay small however many fds the daemon holds,
// with the stdio asked for, and that the pidfd is in the shared table.
func TestForkServerTable(t *testing.T) {
	for range 100 {
		pipe(t) // 200 fds in the shared table
	}
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sh", "-c", "echo out; echo err >&2"}, Stdout: w, Stderr: w})
	if p.thread != nil {
		t.Error("forked by a fork thread, not by the server")
	}
	checkServerTables(t)
	if shared := countFds(t, os.Getpid()); shared < 200 {
		t.Errorf("the shared table holds %d fds", shared)
	}
	if got := readAllOutput(t, r, w); got != "out\nerr\n" {
		t.Errorf("output %q", got)
	}
	if !inEpollSet(t, p.pidfd) {
		t.Errorf("pidfd %d is in no epoll set of this process", p.pidfd)
	}
	if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
		t.Errorf("Wait = %v, %v", st, err)
	}
}

// TestForkServerClosedFile checks that a closed stdio file means a closed fd
// in the child, as with ForkExec.
func TestForkServerClosedFile(t *testing.T) {
	if p := startClosedStdout(t); p.thread != nil {
		t.Error("forked by a fork thread, not by the server")
	}
	serverThreads(t) // not given up
}

// TestForkServerSignals checks that the child starts with no signal blocked
// and none caught, although the server threads block them all and the
// daemon catches most, and that a signal the daemon ignores stays ignored
// (as exec keeps it): with clone3's CLONE_CLEAR_SIGHAND, and with the
// child's own reset where the server forks with clone(2).
func TestForkServerSignals(t *testing.T) {
	signal.Ignore(syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)
	t.Run("clone3", checkChildSignals)
	fs, ok := testStarter.forker().(*forkServer)
	if !ok {
		t.Fatalf("testStarter forks on %s, not on the fork server", forkerName(testStarter.forker()))
	}
	fs.plainClone.Store(true)
	defer fs.plainClone.Store(false)
	t.Run("clone", checkChildSignals)
}

func checkChildSignals(t *testing.T) {
	p := start(t, Spec{Argv: []string{"sleep", "1000"}, Env: []string{testPath}})
	defer cleanup(t, p)
	waitfor.Condition(t, waitTimeout, func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/comm")
		return string(b) == "sleep\n"
	}, "the child runs sleep")
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && (f[0] == "SigBlk:" || f[0] == "SigCgt:") && f[1] != "0000000000000000" {
			t.Errorf("%s %s, want none", f[0], f[1])
		}
		if f := strings.Fields(line); len(f) == 2 && f[0] == "SigIgn:" {
			mask, err := strconv.ParseUint(f[1], 16, 64)
			if err != nil || mask&(1<<(syscall.SIGUSR2-1)) == 0 {
				t.Errorf("SigIgn %s: SIGUSR2, ignored by the daemon, is not ignored", f[1])
			}
		}
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(testCtx(t)); err != nil || st.Signal != syscall.SIGTERM {
		t.Errorf("Wait = %+v, %v; want killed by SIGTERM", st, err)
	}
}

// TestForkServerExecFails checks that a start that fails before or at the
// exec reports what ForkExec would, leaves no child behind (the server reaps
// it) and keeps the server in use.
func TestForkServerExecFails(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want error
	}{
		{Spec{Argv: []string{"x"}, Path: "/nonexistent/x"}, syscall.ENOENT},
		{Spec{Argv: []string{"x"}, Path: "/etc/passwd"}, syscall.EACCES},
		{Spec{Argv: []string{"sleep", "1"}, Path: "/bin/sleep", Dir: "/nonexistent"}, fs.ErrNotExist},
		{Spec{Argv: []string{"sleep", "1"}, Path: "/bin/sleep", Env: []string{"A=\x00"}}, syscall.EINVAL},
	} {
		_, err := testStarter.Start(tc.spec)
		if !errors.Is(err, tc.want) {
			t.Errorf("Start(%s in %q) = %v, want %v", tc.spec.Path, tc.spec.Dir, err, tc.want)
		}
	}
	for _, tid := range serverThreads(t) {
		b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/children")
		if err != nil {
			t.Fatal(err)
		}
		if kids := strings.TrimSpace(string(b)); kids != "" {
			t.Errorf("server thread %d has children %s after failed starts", tid, kids)
		}
	}
}

// TestForkServerParallel checks that many starts in parallel all succeed,
// each a distinct live leader, and that no fd is left behind in either table
// once they are released.
func TestForkServerParallel(t *testing.T) {
	serverThreads(t)
	// A first start makes what a Starter makes once (the exit watcher's
	// epoll set), whichever test runs first.
	cleanup(t, start(t, Spec{Argv: []string{"sleep", "1000"}, Env: []string{testPath}}))
	before := fdTargets(t)
	ps := startParallel(t, 48)
	checkServerTables(t)
	for _, p := range ps {
		if !alive(p.Pid(), startTicksOf(t, p.Pid())) {
			t.Fatalf("leader %d died", p.Pid())
		}
		cleanup(t, p)
	}
	// Other goroutines open fds for a moment: the reaper's pass over
	// /proc/self/task/*/children after the SIGCHLDs of the kills above.
	// Left behind is what stays.
	var after map[string]string
	waitfor.Until(waitTimeout, func() bool {
		after = fdTargets(t)
		return maps.Equal(after, before)
	})
	for fd, target := range after {
		if before[fd] != target {
			t.Errorf("fd %s (%s) is open after the starts and releases, not before", fd, target)
		}
	}
	for fd, target := range before {
		if after[fd] != target {
			t.Errorf("fd %s (%s) was open before the starts, not after", fd, target)
		}
	}
	checkServerTables(t)
}

// TestFullPassSkipsServerThreads checks that a full reaper pass leaves out
// the fork server's threads, whose children are all leaders: their
// listing would grow with every instance. The leader is still listed by
// children, and the pass still sees the main thread, where orphans land.
func TestFullPassSkipsServerThreads(t *testing.T) {
	p := start(t, Spec{Argv: []string{"sleep", "1000"}, Env: []string{testPath}})
	defer cleanup(t, p)
	skip := testStarter.leaderOnlyThreads()
	tids := serverThreads(t)
	if len(skip) != len(tids) {
		t.Errorf("skipped threads %v, server threads %v", skip, tids)
	}
	for _, tid := range tids {
		if !skip[strconv.Itoa(tid)] {
			t.Errorf("server thread %d is not skipped", tid)
		}
	}
	if skip[strconv.Itoa(os.Getpid())] {
		t.Error("the main thread is skipped: orphans land there")
	}
	all, err := testStarter.lister.children()
	if err != nil {
		t.Fatal(err)
	}
	some, err := testStarter.lister.childrenExcept(skip)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(all, p.Pid()) {
		t.Errorf("children %v lack the leader %d", all, p.Pid())
	}
	if slices.Contains(some, p.Pid()) {
		t.Errorf("a full pass lists the leader %d, forked by a server thread", p.Pid())
	}
}

// fdTargets maps each fd of the shared table to what it refers to.
func fdTargets(t *testing.T) map[string]string {
	t.Helper()
	names, err := readDirNames("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]string, len(names))
	for _, n := range names {
		target, err := os.Readlink("/proc/self/fd/" + n)
		if err != nil {
			continue // the fd readDirNames itself used
		}
		m[n] = target
	}
	return m
}
