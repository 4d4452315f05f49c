package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// Starter starts processes and reaps the orphans they leave. Use one Starter per
// daemon process (see the package documentation).
type Starter struct {
	log      logr.Logger
	lister   childLister
	selfPgid int
	devNull  *os.File // nil if /dev/null could not be opened at construction
	nullFd   int      // devNull's fd, or -1

	// forkMu guards forks, forkBroken, forkIdle, forkMax, serverOff and the
	// forkThread fields it names.
	forkMu     sync.Mutex
	forks      []*forkThread // the threads Start forks on, none retired
	forkBroken bool          // setting one up failed: Start forks on its caller's thread
	forkIdle   time.Duration // 0: forkThreadIdle (tests shorten it)
	forkMax    int           // 0: maxForkThreads(); lowered when a thread cannot be set up
	serverOff  bool          // fork threads instead of the fork server (its machinery failed; tests)

	// spawnMu orders spawning against the reaper: Start holds the read lock
	// around fork+register, the reaper holds the write lock while it lists and
	// reaps children, so it never sees an unregistered leader.
	spawnMu sync.RWMutex

	exits exitWatcher // observes the leaders' exits

	regMu     sync.Mutex
	leaders   map[int]*Process // registered leaders, not yet released
	unmanaged map[int]int      // children started by StartUnmanaged (count per pid)

	// groupMu guards passes (the reaper passes started so far) and
	// groupWaiters (the WaitGroupEmpty calls waiting for a pass's verdict).
	groupMu      sync.Mutex
	passes       uint64
	finalPass    uint64 // the last pass whose listing was empty (final)
	groupWaiters map[*groupWaiter]struct{}
	kick         chan struct{} // cap 1: a WaitGroupEmpty asks for a pass
}

// NewStarter returns a Starter. Call Run to reap orphans.
func NewStarter(log logr.Logger) *Starter {
	s := &Starter{
		log:       log,
		lister:    newChildLister(),
		selfPgid:  syscall.Getpgrp(),
		leaders:   make(map[int]*Process),
		unmanaged: make(map[int]int),
		kick:      make(chan struct{}, 1),
		nullFd:    -1,
	}
	// Opened once: Start then costs no open(2) for unset stdio. On failure
	// Start opens it itself and reports the error there.
	if f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0); err == nil {
		s.devNull, s.nullFd = f, int(f.Fd())
	}
	return s
}

// BecomeSubreaper makes this process a child subreaper (PR_SET_CHILD_SUBREAPER):
// orphaned descendants are reparented to it rather than to init, so their
// process groups stay visible and Run reaps them.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}

// Start starts spec's process as the leader of a new process group. The process
// gets SIGKILL if the daemon (precisely: the forking thread) dies.
//
// Start reads nothing from /proc. Its cost over a bare syscall.ForkExec is a
// PATH lookup (none for an absolute Argv[0] or a set Path), handing the fork
// to the fork server (see forkServer) or a fork thread (see forkThread), which
// take copies of the child's stdio with pidfd_getfd, a pidfd_open,
// registering the pidfd with the netpoller, and a map insert;
// plus one exec of the daemon's binary when the shim is needed (Umask or Nice
// set).
//
// With the shim, the shim also applies Credential, after nice (a negative nice
// needs privilege) and while still root, so the daemon's binary need not be
// executable by the instance's user (go test binaries live in a 0700 dir).
func (s *Starter) Start(spec Spec) (*Process, error) {
	name := spec.Name
	if name == "" && len(spec.Argv) > 0 {
		name = filepath.Base(spec.Argv[0])
	}
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, fmt.Errorf("start %s: empty command", name)
	}
	path := spec.Path
	if path == "" {
		var err error
		if path, err = lookPath(spec.Argv[0], spec.Env, spec.Dir); err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
	}

	stdio, closeStdio, err := s.stdio(spec)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer closeStdio()

	sys := &syscall.SysProcAttr{
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	argv0, argv := path, spec.Argv
	if spec.Umask != nil || spec.Nice != nil {
		argv0, argv = "/proc/self/exe", shimArgv(path, spec)
	} else if c := spec.Credential; c != nil {
		sys.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
	}
	env := spec.Env
	if env == nil {
		env = []string{}
	}
	attr := &syscall.ProcAttr{Dir: spec.Dir, Env: env, Files: stdio[:], Sys: sys}

	started := time.Now()
	s.spawnMu.RLock()
	p, err := s.spawn(argv0, argv, attr, name, started)
	s.spawnMu.RUnlock()
	runtime.KeepAlive(spec.Stdin)
	runtime.KeepAlive(spec.Stdout)
	runtime.KeepAlive(spec.Stderr)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, s.explain(err, path, spec.Dir))
	}
	if s.log.V(1).Enabled() {
		s.log.V(1).Info("Started", "pid", p.pid, "path", path)
	}
	return p, nil
}

// spawn forks and execs argv0, and registers the child as a leader: on the
// fork server when there is one (cgo builds), else on a fork thread, else on
// the calling thread. Called with spawnMu read-locked.
func (s *Starter) spawn(argv0 string, argv []string, attr *syscall.ProcAttr, name string, started time.Time) (*Process, error) {
	if fs := s.forkServer(); fs != nil {
		pid, err := fs.forkExec(argv0, argv, attr, s.nullFd)
		if err == nil {
			return s.registerChild(pid, name, started)
		}
		if !errors.Is(err, errForkThread) {
			return nil, err
		}
		s.forkServerFailed(err)
	}
	if t := s.acquireForkThread(); t != nil {
		r := &forkReq{argv0: argv0, argv: argv, attr: attr, null: s.nullFd, done: make(chan struct{})}
		t.reqs <- r
		<-r.done
		s.forkDone(t)
		if r.err == nil {
			p, err := s.registerChild(r.pid, name, started)
			if err != nil {
				s.releaseForkThread(t)
				return nil, err
			}
			p.thread = t
			return p, nil
		}
		if !errors.Is(r.err, errForkThread) {
			s.releaseForkThread(t)
			return nil, r.err
		}
		s.forkThreadFailed(t, r.err)
	}
	pidfd := -1
	attr.Sys.PidFD = &pidfd
	pid, err := syscall.ForkExec(argv0, argv, attr)
	if err != nil {
		return nil, err
	}
	return s.register(pid, pidfd, false, name, started)
}

// registerChild opens the pidfd of pid, an unreaped child forked without one,
// and registers it.
func (s *Starter) registerChild(pid int, name string, started time.Time) (*Process, error) {
	pidfd, nonblocking, err := pidfdOpen(pid)
	if err != nil {
		// Ours and unreaped: the pid is pinned, so a bare kill is safe here.
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = unix.Wait4(pid, nil, 0, nil)
		return nil, err
	}
	return s.register(pid, pidfd, nonblocking, name, started)
}

// register records pid as a leader, its exit watched through pidfd. Called
// with spawnMu read-locked.
func (s *Starter) register(pid, pidfd int, nonblocking bool, name string, started time.Time) (*Process, error) {
	if pidfd < 0 {
		// No pidfd (pre-5.3 kernel): the child is ours and unreaped, so its
		// pid is pinned and a bare kill is safe here.
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = unix.Wait4(pid, nil, 0, nil)
		return nil, errors.New("clone did not return a pidfd (Linux 5.4 or later is needed)")
	}
	if !nonblocking {
		if err := unix.SetNonblock(pidfd, true); err != nil {
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			_ = waitidReap(pidfd, 0)
			unix.Close(pidfd)
			return nil, fmt.Errorf("pidfd: %w", err)
		}
	}
	p := &Process{
		starter: s,
		pid:     pid,
		name:    name,
		started: started,
		pidfd:   pidfd,
		done:    make(chan struct{}),
	}
	if err := s.exits.watch(p); err != nil {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		_ = waitidReap(pidfd, 0)
		unix.Close(pidfd)
		return nil, err
	}
	s.regMu.Lock()
	s.leaders[pid] = p
	s.regMu.Unlock()
	return p, nil
}

// forkServer returns the process's fork server, or nil when Start is to
// use fork threads: built without cgo, the server could not be set up, or
// it failed.
func (s *Starter) forkServer() *forkServer {
	s.forkMu.Lock()
	off := s.serverOff
	s.forkMu.Unlock()
	if off {
		return nil
	}
	fs, err := sharedForkServer()
	if err != nil {
		s.forkServerFailed(err)
		return nil
	}
	return fs
}

// forkServerFailed makes Start use fork threads from now on.
func (s *Starter) forkServerFailed(err error) {
	s.forkMu.Lock()
	was := s.serverOff
	s.serverOff = true
	s.forkMu.Unlock()
	if !was {
		s.log.V(1).Info("Forking on fork threads", "reason", err.Error())
	}
}

// acquireForkThread returns a fork thread with one more start counted in
// its live and busy: the first one that is not forking, else a new one while
// there are fewer than forkMax, else the least busy. nil when none can be set
// up. Call forkDone once the fork returned.
func (s *Starter) acquireForkThread() *forkThread {
	s.forkMu.Lock()
	defer s.forkMu.Unlock()
	if s.forkBroken {
		return nil
	}
	var t *forkThread
	for _, c := range s.forks {
		if t == nil || c.busy < t.busy {
			t = c
		}
	}
	limit := s.forkMax
	if limit <= 0 {
		limit = maxForkThreads()
	}
	if t == nil || (t.busy > 0 && len(s.forks) < limit) {
		// Under forkMu: setting a thread up takes a few system calls per fd
		// the daemon holds, once per thread (threads are retired only after
		// forkThreadIdle without a leader).
		nt, err := newForkThread(s.nullFd)
		if err != nil {
			if t == nil {
				s.forkBroken = true
				s.log.V(1).Info("Forking on the callers' threads", "reason", err.Error())
				return nil
			}
			// Make do with the threads there are (e.g. out of fds), rather
			// than trying again at every busy start.
			s.forkMax = len(s.forks)
			s.log.V(1).Info("No more fork threads", "threads", len(s.forks), "reason", err.Error())
		} else {
			s.forks = append(s.forks, nt)
			t = nt
		}
	}
	t.live++
	t.busy++
	if t.idle != nil {
		t.idle.Stop()
	}
	return t
}

// forkDone counts the start on t that acquireForkThread counted as busy as
// done forking (it stays counted in live).
func (s *Starter) forkDone(t *forkThread) {
	s.forkMu.Lock()
	t.busy--
	s.forkMu.Unlock()
}

// maxForkThreads is how many threads fork at once: one per CPU the runtime
// uses, at most 4. A vfork parent waits until its child has exec'd, so one
// thread starts one process at a time; more threads than CPUs only queue.
func maxForkThreads() int {
	return min(runtime.GOMAXPROCS(0), 4)
}

// dropForkThread removes t from the threads Start picks from. Called with
// forkMu held.
func (s *Starter) dropForkThread(t *forkThread) {
	for i, c := range s.forks {
		if c == t {
			s.forks = append(s.forks[:i], s.forks[i+1:]...)
			return
		}
	}
}

// releaseForkThread counts one leader (or failed start) of t less; once none
// is left, t is retired after forkThreadIdle unless it is used again.
func (s *Starter) releaseForkThread(t *forkThread) {
	s.forkMu.Lock()
	defer s.forkMu.Unlock()
	if t.live--; t.live > 0 || t.retired {
		return
	}
	idle := s.forkIdle
	if idle <= 0 {
		idle = forkThreadIdle
	}
	if t.idle == nil {
		t.idle = time.AfterFunc(idle, func() { s.retireForkThread(t) })
	} else {
		t.idle.Reset(idle)
	}
}

// retireForkThread ends t if it still has no leader.
func (s *Starter) retireForkThread(t *forkThread) {
	s.forkMu.Lock()
	defer s.forkMu.Unlock()
	if t.live > 0 || t.retired {
		return
	}
	t.retired = true
	s.dropForkThread(t)
	close(t.reqs)
}

// forkThreadFailed gives up on fork threads after t's machinery failed.
func (s *Starter) forkThreadFailed(t *forkThread, err error) {
	s.forkMu.Lock()
	s.forkBroken = true
	s.dropForkThread(t)
	s.forkMu.Unlock()
	s.log.V(1).Info("Forking on the callers' threads", "reason", err.Error())
	s.releaseForkThread(t)
}

// stdio returns the child's fds 0, 1 and 2.
func (s *Starter) stdio(spec Spec) (fds [3]uintptr, closeFn func(), err error) {
	closeFn = func() {}
	null := s.devNull
	if null == nil && (spec.Stdin == nil || spec.Stdout == nil || spec.Stderr == nil) {
		null, err = os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return fds, closeFn, err
		}
		closeFn = func() { null.Close() }
	}
	for i, f := range []*os.File{spec.Stdin, spec.Stdout, spec.Stderr} {
		if f == nil {
			f = null
		}
		// Fd puts f into blocking mode, which the child needs (as os/exec).
		fds[i] = f.Fd()
	}
	return fds, closeFn, nil
}

// explain turns a bare errno from ForkExec into a message that says what failed.
func (s *Starter) explain(err error, path, dir string) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	if dir != "" && (errno == syscall.ENOENT || errno == syscall.ENOTDIR || errno == syscall.EACCES) {
		if _, serr := os.Stat(dir); serr != nil {
			return fmt.Errorf("chdir: %w", serr)
		}
	}
	return &fs.PathError{Op: "fork/exec", Path: path, Err: err}
}

// StartUnmanaged runs start, which starts a child of this process by other means
// than Start (e.g. exec.Cmd.Start), so that the reaper never reaps it: start runs
// under the same lock as Start, and the returned pid is protected until done is
// called. Call done after the child has been waited for.
func (s *Starter) StartUnmanaged(start func() (pid int, err error)) (done func(), err error) {
	s.spawnMu.RLock()
	pid, err := start()
	if err == nil && pid > 0 {
		s.regMu.Lock()
		s.unmanaged[pid]++
		s.regMu.Unlock()
	}
	s.spawnMu.RUnlock()
	if err != nil || pid <= 0 {
		return func() {}, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.regMu.Lock()
			if s.unmanaged[pid]--; s.unmanaged[pid] <= 0 {
				delete(s.unmanaged, pid)
			}
			s.regMu.Unlock()
		})
	}, nil
}

// isLeader reports whether pid is a registered, unreleased leader.
func (s *Starter) isLeader(pid int) bool {
	s.regMu.Lock()
	_, ok := s.leaders[pid]
	s.regMu.Unlock()
	return ok
}
