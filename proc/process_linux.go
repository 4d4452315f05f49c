package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/lazychan"
	"github.com/reconciled/reconciled/internal/rawsys"
)

// Process is a started process group leader. Its methods are safe for
// concurrent use.
type Process struct {
	starter *Starter
	pid     int
	name    string
	pidfd   int    // non-blocking; open until Release, which holds mu to close it
	token   uint64 // of pidfd in the Starter's exit watcher
	// exitPass is the number of reaper passes started when the exit was
	// observed; set before observed (see GroupGone).
	exitPass uint64
	thread   *forkThread // that forked it (nil: one that outlives every leader, e.g. a server thread); told at Release

	exitOnce sync.Once

	// observed is set once the exit is observed (or waiting failed), after
	// status, waitErr and exitPass: a reader that sees it set may read them.
	observed atomic.Bool
	// wakeups counts the exit watcher's checks of this process; tests use it
	// to check that waiting parks instead of spinning.
	wakeups  atomic.Int32
	onExitMu sync.Mutex
	exitRan  bool // the OnExit callbacks have been started; later ones start at once
	// released and reaped are guarded by mu (below); they sit here, beside
	// exitRan, to keep the struct small: there is one per running instance.
	released bool
	reaped   bool // the leader was reaped when its exit was observed (reapEarly)
	// reapEarly is Spec.ReapAtExit; set before the pidfd is watched.
	reapEarly bool
	onExit    []func() // started when the exit is observed
	// done is closed once the exit is observed; made by the first Done or
	// Wait that has to wait (under onExitMu), as most exits are handed on
	// through OnExit and nobody waits on the channel.
	done    chan struct{}
	status  ExitStatus // set before observed
	waitErr error      // set before observed

	// mu guards released and the pidfd's life. Whoever uses the pidfd, or
	// signals the group, holds it for reading, so that Release cannot close
	// the pidfd (and reap the leader, freeing its pid and pgid) meanwhile.
	mu sync.RWMutex
}

// Pid returns the leader's pid, which is also the process group id.
func (p *Process) Pid() int { return p.pid }

// Signal sends sig to the leader only, through its pidfd. It returns
// os.ErrProcessDone if the leader has exited and ErrReleased after Release.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.exitObserved() {
		return os.ErrProcessDone
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.released {
		return fmt.Errorf("signal %s (pid %d): %w", p.name, p.pid, ErrReleased)
	}
	serr := unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	if errors.Is(serr, unix.ESRCH) {
		return os.ErrProcessDone
	}
	if serr != nil {
		return fmt.Errorf("signal %s (pid %d): %w", p.name, p.pid, serr)
	}
	return nil
}

// SignalGroup sends sig to the leader's process group with kill(-pgid). This is
// safe until Release: the unreaped leader pins the pgid. It returns ErrReleased
// after Release, and with Spec.ReapAtExit once the exit is observed. Note
// that a group whose only member is the zombie leader still exists, so
// signalling it succeeds (and does nothing).
func (p *Process) SignalGroup(sig syscall.Signal) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.released || p.reaped {
		return fmt.Errorf("signal group %s (pgid %d): %w", p.name, p.pid, ErrReleased)
	}
	err := rawsys.Kill(-p.pid, sig)
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	if err != nil {
		return fmt.Errorf("signal group %s (pgid %d): %w", p.name, p.pid, err)
	}
	return nil
}

// Wait blocks until the leader exits, or ctx is done, and returns its exit
// status. It does not reap the leader (see Release). It may be called any number
// of times, concurrently; after the exit it returns the same status at once.
//
// The exit is observed by the Starter's exit watcher (one goroutine for all
// processes, parked in the netpoller on an epoll set of their pidfds); no
// thread is blocked and nothing polls.
func (p *Process) Wait(ctx context.Context) (ExitStatus, error) {
	if p.observed.Load() {
		return p.status, p.waitErr
	}
	select {
	case <-p.Done():
		return p.status, p.waitErr
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	}
}

// Done returns a channel that is closed when the leader's exit has been
// observed. Then Wait returns at once.
func (p *Process) Done() <-chan struct{} {
	p.onExitMu.Lock()
	defer p.onExitMu.Unlock()
	return lazychan.Get(&p.done, p.exitRan)
}

// check is the exit watcher's look at p after its pidfd turned readable.
func (p *Process) check(w *exitWatcher) {
	p.wakeups.Add(1)
	unlock := p.lockToObserve()
	defer unlock()
	if p.released || p.exitObserved() {
		return
	}
	if !p.poll() {
		w.rearm(p)
	}
}

// lockToObserve locks p.mu as a look for the exit needs it, and returns
// the unlock: for reading, as the look only reads the pidfd, unless the
// look reaps (reapEarly), which must not happen while SignalGroup, which
// holds the lock for reading, is about to kill(-pgid).
func (p *Process) lockToObserve() (unlock func()) {
	if p.reapEarly {
		p.mu.Lock()
		return p.mu.Unlock
	}
	p.mu.RLock()
	return p.mu.RUnlock
}

// OnExit calls f once the leader's exit has been observed (Wait then returns
// at once), so a supervisor needs no goroutine per process while it runs.
// f runs on the goroutine that observed the exit, the exit watcher's, which
// every other exit waits for: it must not block (hand the exit on, as the
// reconciler posts it to a mailbox). Registered after the exit, f runs on a
// goroutine of its own.
func (p *Process) OnExit(f func()) {
	p.onExitMu.Lock()
	if p.exitRan {
		p.onExitMu.Unlock()
		go f()
		return
	}
	p.onExit = append(p.onExit, f)
	p.onExitMu.Unlock()
}

// poll observes the leader's exit, waitid(P_PIDFD, WEXITED|WNOHANG), without
// reaping it (WNOWAIT) unless reapEarly; then p.mu is held for writing (see
// lockToObserve), and the leader is unregistered as Release would. It
// reports whether waiting is over.
func (p *Process) poll() bool {
	var info siginfo
	opts := unix.WEXITED | unix.WNOHANG | unix.WNOWAIT
	if p.reapEarly {
		opts &^= unix.WNOWAIT
	}
	err := waitid(p.pidfd, &info, opts)
	if errors.Is(err, unix.EAGAIN) {
		return false
	}
	if err != nil {
		p.finish(ExitStatus{}, fmt.Errorf("wait %s (pid %d): %w", p.name, p.pid, err))
		return true
	}
	if info.Pid == 0 {
		return false // still running
	}
	if p.reapEarly {
		p.unregister()
	}
	p.finish(info.exitStatus(), nil)
	return true
}

// unregister records that the leader was reaped: the reaper no longer
// protects its pid, and the thread that forked it may go. p.mu is held for
// writing.
func (p *Process) unregister() {
	s := p.starter
	s.regMu.Lock()
	delete(s.leaders, p.pid)
	s.regMu.Unlock()
	p.reaped = true
	if p.thread != nil {
		// Reaped: the parent-death signal no longer matters to it.
		p.thread.pool.release(p.thread)
		p.thread = nil
	}
}

// finish records the exit, once: it wakes Wait and Done, forgets the pidfd's
// token in the exit watcher and starts the OnExit callbacks.
func (p *Process) finish(st ExitStatus, err error) {
	p.exitOnce.Do(func() {
		p.status, p.waitErr = st, err
		p.starter.groupMu.Lock()
		p.exitPass = p.starter.passes
		p.starter.groupMu.Unlock()
		p.observed.Store(true)
		if p.token != 0 {
			p.starter.exits.forget(p.token)
		}
		p.onExitMu.Lock()
		fs := p.onExit
		p.onExit, p.exitRan = nil, true
		if p.done != nil {
			close(p.done)
		}
		p.onExitMu.Unlock()
		for _, f := range fs {
			f()
		}
	})
}

// Exited reports whether the leader has exited, asking the kernel (one
// waitid, WNOWAIT) when its exit has not been observed yet. An exit found
// so counts as observed: Wait returns, and OnExit's callbacks run, there
// and then on the caller's goroutine. It lets a caller that is about to
// read what the leader left behind (its cgroup) skip what only a live
// leader needs.
func (p *Process) Exited() bool { return p.exited() }

// exitObserved reports whether the exit has been observed already.
func (p *Process) exitObserved() bool { return p.observed.Load() }

// exited reports whether the leader has exited, checking now if needed.
func (p *Process) exited() bool {
	if p.exitObserved() {
		return true
	}
	unlock := p.lockToObserve()
	defer unlock()
	return p.released || p.exitedLocked()
}

// exitedLocked is exited for a caller that holds p.mu (and so knows the
// pidfd is open): for writing, or for reading without reapEarly.
func (p *Process) exitedLocked() bool {
	return p.exitObserved() || p.poll()
}

// Release reaps the leader, unregisters it and closes its pidfd. From then on
// its pid and pgid may be reused, so the Process can no longer signal. Release
// is idempotent. It returns ErrNotExited (and does nothing) while the leader
// runs. With Spec.ReapAtExit the leader was reaped already, and Release
// closes the pidfd.
func (p *Process) Release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return nil
	}
	if !p.exitedLocked() {
		return fmt.Errorf("release %s (pid %d): %w", p.name, p.pid, ErrNotExited)
	}
	var rerr error
	if !p.reaped {
		// Registered until unregister: the reaper leaves it alone.
		rerr = waitidReap(p.pidfd, unix.WNOHANG)
		p.unregister()
	}
	p.released = true
	// Closing the pidfd also takes it out of the exit watcher's epoll set.
	cerr := rawsys.Close(p.pidfd)
	if rerr != nil && !errors.Is(rerr, unix.ECHILD) {
		return fmt.Errorf("release %s (pid %d): %w", p.name, p.pid, rerr)
	}
	if cerr != nil {
		return fmt.Errorf("release %s (pid %d): %w", p.name, p.pid, cerr)
	}
	return nil
}

// siginfo is the part of siginfo_t that waitid fills for SIGCHLD (amd64 and
// arm64 layout; the union starts at offset 16).
type siginfo struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      int32
	Pid    int32
	UID    uint32
	Status int32
	_      [100]byte
}

var _ [unsafe.Sizeof(unix.Siginfo{}) - unsafe.Sizeof(siginfo{})]struct{} // same size
var _ [unsafe.Sizeof(siginfo{}) - unsafe.Sizeof(unix.Siginfo{})]struct{}

// si_code values for SIGCHLD.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

func (si *siginfo) exitStatus() ExitStatus {
	switch si.Code {
	case cldKilled:
		return ExitStatus{Code: -1, Signal: syscall.Signal(si.Status)}
	case cldDumped:
		return ExitStatus{Code: -1, Signal: syscall.Signal(si.Status), CoreDumped: true}
	default:
		return ExitStatus{Code: int(si.Status)}
	}
}

// waitid calls waitid(P_PIDFD, fd, info, options), retrying on EINTR.
func waitid(fd int, info *siginfo, options int) error {
	*info = siginfo{}
	return rawsys.Waitid(fd, unsafe.Pointer(info), options)
}

// waitidReap reaps the exited process of pidfd fd.
func waitidReap(fd int, options int) error {
	var info siginfo
	return waitid(fd, &info, unix.WEXITED|options)
}
