package proc

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forkThreadIdle is how long a fork thread with no leader left waits for the
// next start before it ends.
const forkThreadIdle = 5 * time.Second

// errForkThread marks a failure of the fork thread's own machinery (not of
// the program being started): Start then forks on the caller's thread.
var errForkThread = errors.New("fork thread")

// forkThread is an OS thread, locked to one goroutine, that forks instances
// from a file descriptor table of its own. Start uses fork threads when it
// has no fork server (built without cgo, or the server failed).
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
// (live, from the fork to Release), and the Starter retires it only once none
// is left and it has been idle for forkThreadIdle. Its goroutine then returns
// still locked to the thread, which makes the runtime end the thread, private
// table and all: a thread with a private table must never run any other
// goroutine, so it is never unlocked.
//
// Needs Linux 5.6 (pidfd_getfd). When setting the thread up fails, Start
// forks on the caller's thread as before.
type forkThread struct {
	reqs chan *forkReq // closed to end the thread
	tid  int           // set before newForkThread returns
	// live counts the leaders forked here and not yet released, plus the
	// starts in flight; busy counts only the starts in flight. Guarded by
	// Starter.forkMu, as are idle and retired.
	live    int
	busy    int
	idle    *time.Timer
	retired bool
}

// forkReq is one fork+exec, served by the fork thread.
type forkReq struct {
	argv0 string
	argv  []string
	attr  *syscall.ProcAttr // Files are fds of the shared table
	null  int               // the shared table's /dev/null fd, or -1

	pid  int
	err  error
	done chan struct{}
}

// newForkThread starts a fork thread and waits until it is set up. null is
// a /dev/null fd of the shared table (or -1): the thread takes its own copy
// of it, which also checks that pidfd_getfd works.
func newForkThread(null int) (*forkThread, error) {
	// The runtime's netpoller must exist before the table is copied, so that
	// its fds are in the copy at the same numbers (see forkThread).
	if err := initNetpoller(); err != nil {
		return nil, fmt.Errorf("%w: %v", errForkThread, err)
	}
	t := &forkThread{reqs: make(chan *forkReq)}
	ready := make(chan error, 1)
	go t.run(null, ready, nil)
	if err := <-ready; err != nil {
		return nil, fmt.Errorf("%w: %v", errForkThread, err)
	}
	return t, nil
}

// run is the fork thread's goroutine. moved, when not nil, is closed once
// this goroutine holds a thread of its own (see below).
func (t *forkThread) run(null int, ready chan<- error, moved chan<- struct{}) {
	runtime.LockOSThread()
	// Never unlocked once the table is private: see forkThread.
	if unix.Gettid() == unix.Getpid() {
		// The main thread: pidfd_getfd reads its table, which must stay the
		// shared one. Hand over to a new goroutine: while this one holds the
		// main thread locked, the new one cannot run there.
		here := make(chan struct{})
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
		r.pid, r.err = forkInTable(self, null, r)
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
			return 0, fmt.Errorf("%w: %v", errForkThread, err)
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

// pidfdOpen opens a non-blocking pidfd of pid, which must be an unreaped
// child. It reports whether the pidfd is non-blocking already (Linux 5.10).
func pidfdOpen(pid int) (fd int, nonblocking bool, err error) {
	for _, flags := range []int{unix.PIDFD_NONBLOCK, 0} {
		for {
			fd, err = unix.PidfdOpen(pid, flags)
			if err != unix.EINTR {
				break
			}
		}
		if err == nil {
			return fd, flags != 0, nil
		}
		if err != unix.EINVAL {
			break
		}
	}
	return -1, false, fmt.Errorf("pidfd_open: %w", err)
}
