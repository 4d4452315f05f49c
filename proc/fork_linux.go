package proc

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// forker forks and execs one process for Start: as the leader of a new
// process group, with the parent-death signal SIGKILL, on a thread that
// outlives it (see "Threads and PR_SET_PDEATHSIG" in the package
// documentation). Three strategies implement it; a Starter tries them in
// this order:
//
//	forkServer      C threads with private, nearly empty fd tables (cgo builds)
//	forkThreadPool  Go threads locked to goroutines, with such tables too
//	callerThread    the calling goroutine's thread, as syscall.ForkExec
//
// A forker whose own machinery fails (errForker) is dropped for good and the
// Starter moves on to the next one; callerThread never fails that way.
type forker interface {
	// forkExec forks and execs r. A failure of the forker's own machinery
	// wraps errForker; any other error is the program's, as
	// syscall.ForkExec reports it (ENOENT, EACCES, ...).
	forkExec(r *forkReq) (forked, error)
	// joinsCgroups reports whether the forked child itself enters
	// forkReq.cgroups before exec; when not, Start goes through the exec
	// shim, which does.
	joinsCgroups() bool
	// close ends the forker's threads and frees what it holds, and returns
	// once they are gone. Starter.Close calls it, once no forkExec is in
	// flight or to come and every child forked is reaped (the parent-death
	// signal of a child still unreaped would fire).
	close()
}

// errForker marks a failure of a forker's own machinery, not of the program
// being started.
var errForker = errors.New("fork machinery failed")

// forkReq is one fork+exec.
type forkReq struct {
	argv0 string
	argv  []string
	attr  *syscall.ProcAttr // Files are fds of the shared table
	null  int               // the shared table's /dev/null fd, or -1
	// cgroup is where the child starts (Spec.Cgroup), for a forker that
	// joinsCgroups; viaShim is the same start through the exec shim, which
	// enters it itself, for one that does not. Both are nil when the
	// request goes through the shim anyway.
	cgroup  *Cgroup
	viaShim *forkReq
}

// cgroupError is a start whose child could not enter its cgroups
// (Spec.Cgroups) before exec.
type cgroupError struct{ err error }

func (e *cgroupError) Error() string { return "enter cgroup: " + e.err.Error() }
func (e *cgroupError) Unwrap() error { return e.err }

// forked is a child that a forker started, unreaped.
type forked struct {
	pid   int
	pidfd int // -1: the forker opened none, the Starter opens it
	// thread is the fork thread the child's parent-death signal depends on
	// until it is reaped (see forkThread); nil for a thread that outlives
	// every leader (a server thread, which only Starter.Close ends).
	thread *forkThread
}

// callerThread forks on the calling goroutine's thread: the last resort,
// for kernels without pidfd_getfd (before 5.6). The child's parent-death
// signal then fires when that thread ends (see the package documentation).
type callerThread struct{}

func (callerThread) joinsCgroups() bool { return false }

// close has nothing to end: the threads are the callers'.
func (callerThread) close() {}

func (callerThread) forkExec(r *forkReq) (forked, error) {
	pidfd := -1
	sys := *r.attr.Sys
	sys.PidFD = &pidfd
	attr := *r.attr
	attr.Sys = &sys
	pid, err := syscall.ForkExec(r.argv0, r.argv, &attr)
	if err != nil {
		return forked{}, err
	}
	return forked{pid: pid, pidfd: pidfd}, nil
}

// maxForkThreads is how many threads fork at once, in the fork server or
// the fork thread pool: one per CPU the runtime uses, at most 4. A vfork
// parent waits until its child has exec'd, so one thread starts one process
// at a time; more threads than CPUs only queue.
func maxForkThreads() int {
	return min(runtime.GOMAXPROCS(0), 4)
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
