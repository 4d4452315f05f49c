package proc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// forkThreadIdle is how long a fork thread with no leader left waits for the
// next start before it ends.
const forkThreadIdle = 5 * time.Second

// forkThreadPool is the forker (see forker) of builds without cgo, and of
// cgo builds whose fork server could not be set up: it forks on fork
// threads, up to max of them, each picked while it is not forking.
type forkThreadPool struct {
	null int // the shared table's /dev/null fd, or -1
	log  logr.Logger

	// running counts the threads' goroutines, for close.
	running sync.WaitGroup

	// mu guards the fields below and each thread's live, busy, idle and
	// retired.
	mu      sync.Mutex
	threads []*forkThread // the threads not retired: a start picks from them unless broken
	broken  bool          // setting up the first one failed, or one's machinery did: the Starter moved on
	closed  bool          // close was called
	idle    time.Duration // 0: forkThreadIdle (tests shorten it)
	max     int           // 0: maxForkThreads(); lowered when a thread cannot be set up
}

// forkExec forks r on a fork thread. The child depends on the thread until
// it is reaped: the caller hands the thread back with release then (Process
// does it in Release).
// joinsCgroups is false: syscall.ForkExec cannot write files in the child.
func (ft *forkThreadPool) joinsCgroups() bool { return false }

func (ft *forkThreadPool) forkExec(r *forkReq) (forked, error) {
	t, err := ft.acquire()
	if err != nil {
		return forked{}, err
	}
	req := &threadReq{forkReq: r, done: make(chan struct{})}
	t.reqs <- req
	<-req.done
	ft.forkDone(t)
	if req.err != nil {
		if errors.Is(req.err, errForker) {
			ft.failed(t)
		} else {
			ft.release(t)
		}
		return forked{}, req.err
	}
	return forked{pid: req.pid, pidfd: -1, thread: t}, nil
}

// acquire returns a fork thread with one more start counted in its live
// and busy: the first one that is not forking, else a new one while there
// are fewer than max, else the least busy. It fails (errForker) when none
// can be set up. Call forkDone once the fork returned.
func (ft *forkThreadPool) acquire() (*forkThread, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.closed {
		return nil, fmt.Errorf("%w: fork threads: closed", errForker)
	}
	if ft.broken {
		return nil, fmt.Errorf("%w: fork threads: given up", errForker)
	}
	var t *forkThread
	for _, c := range ft.threads {
		if t == nil || c.busy < t.busy {
			t = c
		}
	}
	limit := ft.max
	if limit <= 0 {
		limit = maxForkThreads()
	}
	if t == nil || (t.busy > 0 && len(ft.threads) < limit) {
		// Under mu: setting a thread up takes a few system calls per fd
		// the daemon holds, once per thread (threads are retired only after
		// forkThreadIdle without a leader).
		nt, err := newForkThread(ft)
		if err != nil {
			if t == nil {
				ft.broken = true
				return nil, err
			}
			// Make do with the threads there are (e.g. out of fds), rather
			// than trying again at every busy start.
			ft.max = len(ft.threads)
			ft.log.V(1).Info("No more fork threads", "threads", len(ft.threads), "reason", err.Error())
		} else {
			ft.threads = append(ft.threads, nt)
			t = nt
		}
	}
	t.live++
	t.busy++
	if t.idle != nil {
		t.idle.Stop()
	}
	return t, nil
}

// forkDone counts the start on t that acquire counted as busy as done
// forking (it stays counted in live).
func (ft *forkThreadPool) forkDone(t *forkThread) {
	ft.mu.Lock()
	t.busy--
	ft.mu.Unlock()
}

// drop removes t from the threads a start picks from. Called with mu held.
func (ft *forkThreadPool) drop(t *forkThread) {
	for i, c := range ft.threads {
		if c == t {
			ft.threads = append(ft.threads[:i], ft.threads[i+1:]...)
			return
		}
	}
}

// release counts one leader (or failed start) of t less; once none is
// left, t is retired after the idle time unless it is used again.
func (ft *forkThreadPool) release(t *forkThread) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if t.live--; t.live > 0 || t.retired {
		return
	}
	idle := ft.idle
	if idle <= 0 {
		idle = forkThreadIdle
	}
	if t.idle == nil {
		t.idle = time.AfterFunc(idle, func() { ft.retire(t) })
	} else {
		t.idle.Reset(idle)
	}
}

// retire ends t if it still has no leader.
func (ft *forkThreadPool) retire(t *forkThread) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if t.live > 0 || t.retired {
		return
	}
	t.retired = true
	ft.drop(t)
	close(t.reqs)
}

// failed gives up on fork threads after t's machinery failed: the Starter
// moves on to the next forker. The threads stay while they have leaders
// (and in threads, where close finds them, until retired).
func (ft *forkThreadPool) failed(t *forkThread) {
	ft.mu.Lock()
	ft.broken = true
	ft.mu.Unlock()
	ft.release(t)
}

// close ends every fork thread now, idle or not, and waits until their
// goroutines have returned (each still locked, so the runtime ends its
// thread, private fd table and all). A child forked on a thread and still
// unreaped would get its parent-death signal: Starter.Close calls it only
// when there is none.
func (ft *forkThreadPool) close() {
	ft.mu.Lock()
	ft.closed = true
	for _, t := range ft.threads {
		if t.idle != nil {
			t.idle.Stop() // a retire already under way finds t retired
		}
		t.retired = true
		close(t.reqs)
	}
	ft.threads = nil
	ft.mu.Unlock()
	ft.running.Wait()
}

// forkThread is an OS thread, locked to one goroutine, that forks instances
// from a file descriptor table of its own (see forkThreadPool).
//
// Why. fork copies the forking thread's fd table (dup_fd takes a reference to
// every open file), and exec then closes, one at a time, every fd marked
// close-on-exec. The daemon holds several fds per instance (the pidfd, the
// read ends of the output pipes, the log files), so with N instances running
// every fork+exec cost O(N) in the kernel: at N=1000, more CPU in the child
// before exec than the whole start costs the baselines, and starting N
// processes cost O(N²). From a table that holds a handful of fds the cost no
// longer depends on N.
//
// How. The thread calls unshare(CLONE_FILES), which gives it a private copy
// of the table, and closes in that copy every fd but stdio and the Go
// runtime's own anonymous fds (its epoll instance and the eventfd that
// interrupts it: the runtime may use them on any thread, e.g. when a
// collection restarts the world from an allocation made here). For each
// start it takes copies of the child's stdio into its table with
// pidfd_getfd(2) on a pidfd of this process (which reads the table of the
// main thread, the shared one), forks and execs with them, and closes them.
// The caller then opens the child's pidfd with pidfd_open(2) in the shared
// table: the child is unreaped (Start holds spawnMu, so the reaper cannot take
// it), so its pid cannot name another process in between.
//
// Lifetime. PR_SET_PDEATHSIG fires when the thread that forked the child
// ends, so the thread must outlive every leader it forked: it counts them
// (live, from the fork to Release), and its pool retires it only once none
// is left and it has been idle for forkThreadIdle (or at once when the pool
// is closed, which happens only with none left). Its goroutine then returns
// still locked to the thread, which makes the runtime end the thread, private
// table and all: a thread with a private table must never run any other
// goroutine, so it is never unlocked.
//
// Needs Linux 5.6 (pidfd_getfd). When setting the first thread up fails,
// the Starter forks on the caller's thread (see callerThread).
type forkThread struct {
	pool *forkThreadPool
	reqs chan *threadReq // closed to end the thread
	tid  int             // set before newForkThread returns
	// live counts the leaders forked here and not yet released, plus the
	// starts in flight; busy counts only the starts in flight. Guarded by
	// pool.mu, as are idle and retired.
	live    int
	busy    int
	idle    *time.Timer
	retired bool
}

// threadReq is one fork+exec, served by a fork thread.
type threadReq struct {
	*forkReq
	pid  int
	err  error
	done chan struct{}
}

// newForkThread starts a fork thread of pool and waits until it is set up.
// The thread takes its own copy of the pool's /dev/null, which also checks
// that pidfd_getfd works.
func newForkThread(pool *forkThreadPool) (*forkThread, error) {
	// The runtime's netpoller must exist before the table is copied, so that
	// its fds are in the copy at the same numbers (see forkThread).
	if err := initNetpoller(); err != nil {
		return nil, fmt.Errorf("%w: fork thread: %v", errForker, err)
	}
	t := &forkThread{pool: pool, reqs: make(chan *threadReq)}
	ready := make(chan error, 1)
	pool.running.Add(1)
	go t.run(pool.null, ready, nil)
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("%w: fork thread: %v", errForker, err)
	}
	return t, nil
}

// run is the fork thread's goroutine. moved, when not nil, is closed once
// this goroutine holds a thread of its own (see below).
func (t *forkThread) run(null int, ready chan<- error, moved chan<- struct{}) {
	defer t.pool.running.Done()
	runtime.LockOSThread()
	// Never unlocked once the table is private: see forkThread.
	if unix.Gettid() == unix.Getpid() {
		// The main thread: pidfd_getfd reads its table, which must stay the
		// shared one. Hand over to a new goroutine: while this one holds the
		// main thread locked, the new one cannot run there.
		here := make(chan struct{})
		t.pool.running.Add(1)
		go t.run(null, ready, here)
		<-here
		runtime.UnlockOSThread()
		return
	}
	if moved != nil {
		close(moved)
	}
	t.tid = unix.Gettid()
	self, null, err := privateTable(null)
	if err != nil {
		ready <- err
		return // still locked: the thread ends
	}
	ready <- nil
	for r := range t.reqs {
		r.pid, r.err = forkInTable(self, null, r.forkReq)
		close(r.done)
	}
}

// privateTable unshares the calling thread's fd table and empties it but for
// stdio and the runtime's fds. It returns a pidfd of this process and a
// /dev/null fd, both in the private table.
func privateTable(sharedNull int) (self, null int, err error) {
	if err := unix.Unshare(unix.CLONE_FILES); err != nil {
		return -1, -1, fmt.Errorf("unshare fd table: %w", err)
	}
	names, err := readDirNames("/proc/thread-self/fd")
	if err != nil {
		return -1, -1, err
	}
	buf := make([]byte, 64)
	for _, name := range names {
		fd := 0
		for _, c := range name {
			fd = fd*10 + int(c-'0')
		}
		if fd <= 2 {
			continue // stdio: where the runtime writes a crash, from any thread
		}
		n, err := unix.Readlink("/proc/thread-self/fd/"+name, buf)
		if err != nil {
			continue // the directory's own fd, closed by now
		}
		if link := string(buf[:n]); link == "anon_inode:[eventpoll]" || link == "anon_inode:[eventfd]" {
			continue // the netpoller's (and perhaps others': they cost nothing here)
		}
		unix.Close(fd)
	}
	// Where the runtime writes a crash from this thread: never an
	// instance's pipe, even if the daemon runs with stdio closed.
	for fd := 0; fd <= 2; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == unix.EBADF {
			if _, err := unix.Open("/dev/null", unix.O_RDWR, 0); err != nil {
				return -1, -1, fmt.Errorf("open /dev/null: %w", err)
			}
		}
	}
	if self, err = unix.PidfdOpen(unix.Getpid(), 0); err != nil {
		return -1, -1, fmt.Errorf("pidfd_open self: %w", err)
	}
	if sharedNull >= 0 {
		null, err = getfd(self, sharedNull)
	} else {
		null, err = unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		unix.Close(self)
		return -1, -1, err
	}
	return self, null, nil
}

// forkInTable forks and execs r with copies of its stdio in this thread's
// table.
func forkInTable(self, null int, r *forkReq) (int, error) {
	files := make([]uintptr, len(r.attr.Files))
	var taken []int
	defer func() {
		for _, fd := range taken {
			unix.Close(fd)
		}
	}()
	for i, fd := range r.attr.Files {
		switch {
		case int(fd) < 0: // a closed *os.File: ForkExec closes fd i in the child
			files[i] = fd
			continue
		case int(fd) == r.null:
			files[i] = uintptr(null)
			continue
		case i > 0 && fd == r.attr.Files[i-1]: // stderr: stdout
			files[i] = files[i-1]
			continue
		}
		nfd, err := getfd(self, int(fd))
		if errors.Is(err, unix.EBADF) {
			return 0, unix.EBADF // the caller's fd is not open: as ForkExec says it
		}
		if err != nil {
			return 0, fmt.Errorf("%w: fork thread: %v", errForker, err)
		}
		taken = append(taken, nfd)
		files[i] = uintptr(nfd)
	}
	attr := *r.attr
	attr.Files = files
	return syscall.ForkExec(r.argv0, r.argv, &attr)
}

// getfd copies fd of the shared table into the calling thread's table
// (close-on-exec, as pidfd_getfd always makes it).
func getfd(self, fd int) (int, error) {
	for {
		nfd, err := unix.PidfdGetfd(self, fd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("pidfd_getfd %d: %w", fd, err)
		}
		return nfd, nil
	}
}

// initNetpoller makes sure the runtime's netpoller is set up: creating a
// pollable file does it.
func initNetpoller() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	r.Close()
	w.Close()
	return nil
}
