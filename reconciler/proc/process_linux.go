package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Process is a started process group leader. Its methods are safe for
// concurrent use.
type Process struct {
	starter *Starter
	pid     int
	name    string
	started time.Time
	pidfd   *os.File        // non-blocking pidfd, registered with the netpoller
	raw     syscall.RawConn // of pidfd; Control/Read hold a reference, so Close waits
	thread  *forkThread     // that forked it (nil: another thread); told at Release

	waiterOnce sync.Once
	exitOnce   sync.Once

	onExitMu sync.Mutex
	onExit   []func()      // run by the waiter after the exit was observed
	exitRan  bool          // the waiter has run them; later ones run at once
	done     chan struct{} // closed once the exit is observed (or waiting failed)
	status   ExitStatus    // set before done is closed
	waitErr  error         // set before done is closed

	// mu guards released. SignalGroup holds it for reading so that Release
	// cannot reap the leader (and free the pgid) in the middle of a kill(-pgid).
	mu       sync.RWMutex
	released bool

	// wakeups counts calls of the waitid callback under the netpoller; tests
	// use it to check that waiting parks instead of spinning.
	wakeups atomic.Int64
}

// Pid returns the leader's pid, which is also the process group id.
func (p *Process) Pid() int { return p.pid }

// StartedAt returns the wall-clock time just before the fork.
func (p *Process) StartedAt() time.Time { return p.started }

// Signal sends sig to the leader only, through its pidfd. It returns
// os.ErrProcessDone if the leader has exited and ErrReleased after Release.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.exitObserved() {
		return os.ErrProcessDone
	}
	var serr error
	if err := p.raw.Control(func(fd uintptr) {
		serr = unix.PidfdSendSignal(int(fd), sig, nil, 0)
	}); err != nil {
		return fmt.Errorf("signal %s (pid %d): %w", p.name, p.pid, ErrReleased)
	}
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
// after Release. Note that a group whose only member is the zombie leader still
// exists, so signalling it succeeds (and does nothing).
func (p *Process) SignalGroup(sig syscall.Signal) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.released {
		return fmt.Errorf("signal group %s (pgid %d): %w", p.name, p.pid, ErrReleased)
	}
	err := unix.Kill(-p.pid, sig)
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
// While waiting, one goroutine per process is parked in the netpoller on the
// pidfd, which turns readable when the process exits; no thread is blocked and
// nothing polls.
func (p *Process) Wait(ctx context.Context) (ExitStatus, error) {
	select {
	case <-p.done:
		return p.status, p.waitErr
	default:
	}
	p.waiterOnce.Do(func() { go p.waiter() })
	select {
	case <-p.done:
		return p.status, p.waitErr
	case <-ctx.Done():
		return ExitStatus{}, ctx.Err()
	}
}

// Done returns a channel that is closed when the leader's exit has been
// observed; it starts watching for it. Then Wait returns at once.
func (p *Process) Done() <-chan struct{} {
	p.waiterOnce.Do(func() { go p.waiter() })
	return p.done
}

// waiter parks on the pidfd until the leader exits. rawConn.Read calls the
// callback, and if it returns false, parks the goroutine in the netpoller until
// epoll reports the pidfd readable, then calls it again.
func (p *Process) waiter() {
	err := p.raw.Read(func(fd uintptr) bool {
		p.wakeups.Add(1)
		return p.poll(int(fd))
	})
	if err != nil {
		// Release closes the pidfd only after the exit was observed, so this
		// is not reached in normal operation.
		p.finish(ExitStatus{}, fmt.Errorf("wait %s (pid %d): %w", p.name, p.pid, err))
	}
	p.onExitMu.Lock()
	fs := p.onExit
	p.onExit, p.exitRan = nil, true
	p.onExitMu.Unlock()
	for _, f := range fs {
		f()
	}
}

// OnExit calls f once the leader's exit has been observed (Wait then returns
// at once). f runs on the goroutine that watches the pidfd, or on a new one if
// the exit was observed already, so a supervisor needs no goroutine of its own
// per process. f may block; it delays nothing but other OnExit calls of p.
func (p *Process) OnExit(f func()) {
	p.onExitMu.Lock()
	if p.exitRan {
		p.onExitMu.Unlock()
		go f()
		return
	}
	p.onExit = append(p.onExit, f)
	p.onExitMu.Unlock()
	p.waiterOnce.Do(func() { go p.waiter() })
}

// poll observes the leader's exit without reaping it: waitid(P_PIDFD,
// WEXITED|WNOHANG|WNOWAIT). It reports whether waiting is over.
func (p *Process) poll(fd int) bool {
	var info siginfo
	err := waitid(fd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT)
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
	p.finish(info.exitStatus(), nil)
	return true
}

func (p *Process) finish(st ExitStatus, err error) {
	p.exitOnce.Do(func() {
		p.status, p.waitErr = st, err
		close(p.done)
	})
}

// exitObserved reports whether the exit has been observed already.
func (p *Process) exitObserved() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exited reports whether the leader has exited, checking now if needed.
func (p *Process) exited() bool {
	if p.exitObserved() {
		return true
	}
	if err := p.raw.Control(func(fd uintptr) { p.poll(int(fd)) }); err != nil {
		return true // released
	}
	return p.exitObserved()
}

// Release reaps the leader, unregisters it and closes its pidfd. From then on
// its pid and pgid may be reused, so the Process can no longer signal. Release
// is idempotent. It returns ErrNotExited (and does nothing) while the leader
// runs.
func (p *Process) Release() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.released {
		return nil
	}
	if !p.exited() {
		return fmt.Errorf("release %s (pid %d): %w", p.name, p.pid, ErrNotExited)
	}
	s := p.starter
	var rerr error
	s.regMu.Lock()
	cerr := p.raw.Control(func(fd uintptr) { rerr = waitidReap(int(fd), unix.WNOHANG) })
	delete(s.leaders, p.pid)
	s.regMu.Unlock()
	p.released = true
	if p.thread != nil {
		// Reaped: the parent-death signal no longer matters to it.
		s.releaseForkThread(p.thread)
	}
	if cerr == nil {
		cerr = p.pidfd.Close()
	}
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
	for {
		err := unix.Waitid(unix.P_PIDFD, fd, (*unix.Siginfo)(unsafe.Pointer(info)), options, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// waitidReap reaps the exited process of pidfd fd.
func waitidReap(fd int, options int) error {
	var info siginfo
	return waitid(fd, &info, unix.WEXITED|options)
}
