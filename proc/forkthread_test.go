package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// useForkThreads makes testStarter fork on fork threads, not on the fork
// server, until the test ends.
func useForkThreads(t *testing.T) {
	t.Helper()
	useForkers(t, testStarter.threads, callerThread{})
}

// setForkThreads sets the idle time and the maximum of testStarter's fork
// threads until the test ends.
func setForkThreads(t *testing.T, idle time.Duration, max int) {
	t.Helper()
	pool := testStarter.threads
	pool.mu.Lock()
	pool.idle, pool.max = idle, max
	pool.mu.Unlock()
	t.Cleanup(func() {
		pool.mu.Lock()
		pool.idle, pool.max = 0, 0
		pool.mu.Unlock()
	})
}

// forkThreadOf returns testStarter's first fork thread and its live count.
func forkThreadOf(t *testing.T) (*forkThread, int) {
	t.Helper()
	pool := testStarter.threads
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.broken {
		t.Fatal("the Starter gave up on fork threads")
	}
	if len(pool.threads) == 0 {
		return nil, 0
	}
	return pool.threads[0], pool.threads[0].live
}

// forkThreads returns testStarter's fork threads.
func forkThreads() []*forkThread {
	pool := testStarter.threads
	pool.mu.Lock()
	defer pool.mu.Unlock()
	return append([]*forkThread(nil), pool.threads...)
}

// countFds returns the number of open fds in the table of thread tid.
func countFds(t *testing.T, tid int) int {
	t.Helper()
	names, err := readDirNames("/proc/self/task/" + strconv.Itoa(tid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// TestForkThreadTable checks that instances are forked from a thread whose
// fd table stays small however many fds the daemon holds: that is what
// keeps fork+exec from costing O(open fds).
func TestForkThreadTable(t *testing.T) {
	useForkThreads(t)
	for range 100 {
		pipe(t) // 200 fds in the shared table
	}
	r, w := pipe(t)
	p := start(t, Spec{Argv: []string{"sh", "-c", "echo out; echo err >&2"}, Stdout: w, Stderr: w})
	if p.thread == nil {
		t.Fatal("the process was not forked by the fork thread")
	}
	if n, shared := countFds(t, p.thread.tid), countFds(t, os.Getpid()); n > 16 || shared < 200 {
		t.Errorf("fork thread holds %d fds, the shared table %d", n, shared)
	}
	if got := readAllOutput(t, r, w); got != "out\nerr\n" {
		t.Errorf("output %q", got)
	}
	// The pidfd is in the shared table, watched by the netpoller.
	pidfd := p.pidfd
	if !inEpollSet(t, pidfd) {
		t.Errorf("pidfd %d is in no epoll set of this process", pidfd)
	}
	if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
		t.Errorf("Wait = %v, %v", st, err)
	}
}

// TestForkThreadClosedFile checks that a closed stdio file means a closed
// fd in the child, as with ForkExec on the calling thread.
func TestForkThreadClosedFile(t *testing.T) {
	useForkThreads(t)
	if p := startClosedStdout(t); p.thread == nil {
		t.Error("not started by the fork thread")
	}
	forkThreadOf(t) // not given up
}

// startClosedStdout starts a child whose stdout is a closed file and checks
// that the child finds its fd 1 closed.
func startClosedStdout(t *testing.T) *Process {
	t.Helper()
	r, w := pipe(t)
	r2, w2 := pipe(t)
	w.Close()
	p := start(t, Spec{Argv: []string{"sh", "-c", "echo out || echo no-stdout >&2"}, Stdout: w, Stderr: w2})
	if got := readAllOutput(t, r2, w2); !strings.Contains(got, "no-stdout") {
		t.Errorf("stderr %q, want no-stdout", got)
	}
	if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
		t.Errorf("Wait = %v, %v", st, err)
	}
	r.Close()
	return p
}

// TestForkThreadLifetime checks that the fork thread is retired, and its OS
// thread ended, only once every leader it forked has been released and it
// has been idle; and that the next start makes a new one.
func TestForkThreadLifetime(t *testing.T) {
	useForkThreads(t)
	setForkThreads(t, time.Millisecond, 0)
	first := start(t, Spec{Argv: []string{"sleep", "1000"}})
	second := start(t, Spec{Argv: []string{"sleep", "1000"}})
	ft := first.thread
	if ft == nil || second.thread != ft {
		t.Fatalf("threads %p and %p, want one fork thread", first.thread, second.thread)
	}
	cleanup(t, first)
	// second still depends on the thread for its parent-death signal.
	testStarter.threads.retire(ft)
	if cur, live := forkThreadOf(t); cur != ft || live != 1 || ft.retired {
		t.Fatalf("thread %p (live %d, retired %v), want %p with 1 leader", cur, live, ft.retired, ft)
	}
	if ticks := startTicksOf(t, second.Pid()); !alive(second.Pid(), ticks) {
		t.Fatal("the second leader died")
	}
	cleanup(t, second)
	task := "/proc/self/task/" + strconv.Itoa(ft.tid)
	waitfor.Condition(t, waitTimeout, func() bool {
		cur, _ := forkThreadOf(t)
		_, err := os.Stat(task)
		return cur == nil && errors.Is(err, os.ErrNotExist)
	}, "the idle fork thread ends")
	p := start(t, Spec{Argv: []string{"/bin/true"}})
	if p.thread == nil || p.thread == ft {
		t.Errorf("thread %p after retirement, want a new one", p.thread)
	}
	if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
		t.Errorf("Wait = %v, %v", st, err)
	}
}

// TestForkThreadsParallel checks that starts in parallel fork on up to
// forkMax threads, each a fork thread with a small table of its own, that
// every leader keeps its thread until it is released, and that the threads
// then retire.
func TestForkThreadsParallel(t *testing.T) {
	useForkThreads(t)
	const max = 3
	setForkThreads(t, time.Millisecond, max)
	for range 100 {
		pipe(t) // a shared table that the fork threads must not copy
	}
	ps := startParallel(t, 48)
	threads := forkThreads()
	if len(threads) < 1 || len(threads) > max {
		t.Fatalf("%d fork threads, want 1..%d", len(threads), max)
	}
	t.Logf("%d starts in parallel used %d fork threads", len(ps), len(threads))
	used := map[*forkThread]int{}
	for _, p := range ps {
		if p.thread == nil {
			t.Fatal("a process was not forked by a fork thread")
		}
		used[p.thread]++
	}
	testStarter.threads.mu.Lock()
	for th, k := range used {
		if th.live != k || th.busy != 0 || th.retired {
			t.Errorf("thread %d: live %d busy %d retired %v, want live %d", th.tid, th.live, th.busy, th.retired, k)
		}
	}
	testStarter.threads.mu.Unlock()
	for th := range used {
		if fds := countFds(t, th.tid); fds > 16 {
			t.Errorf("fork thread %d holds %d fds", th.tid, fds)
		}
	}
	for _, p := range ps {
		if !alive(p.Pid(), startTicksOf(t, p.Pid())) {
			t.Fatalf("leader %d died", p.Pid())
		}
		cleanup(t, p)
	}
	waitfor.Condition(t, waitTimeout, func() bool {
		if len(forkThreads()) > 0 {
			return false
		}
		for th := range used {
			if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(th.tid)); !errors.Is(err, os.ErrNotExist) {
				return false
			}
		}
		return true
	}, "every idle fork thread ends")
}

// startParallel starts n `sleep 1000` at once and checks that each is a
// leader of its own; they are cleaned up at the end of the test.
func startParallel(t *testing.T, n int) []*Process {
	t.Helper()
	ps := make([]*Process, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range ps {
		wg.Go(func() {
			ps[i], errs[i] = testStarter.Start(Spec{Argv: []string{"sleep", "1000"}, Env: []string{testPath}})
		})
	}
	wg.Wait()
	pids := map[int]bool{}
	for i, p := range ps {
		if p == nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
		t.Cleanup(func() { cleanup(t, p) }) // Release twice is a no-op
		if pids[p.Pid()] {
			t.Errorf("pid %d twice", p.Pid())
		}
		pids[p.Pid()] = true
	}
	return ps
}
