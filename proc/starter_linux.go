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

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// Starter starts processes and reaps the orphans they leave. Use one Starter
// at a time in a process, from NewStarter to Close (see the package
// documentation).
type Starter struct {
	log      logr.Logger
	lister   childLister
	selfPgid int
	devNull  *os.File // nil if /dev/null could not be opened at construction
	nullFd   int      // devNull's fd, or -1

	// forkMu guards forkers and server.
	forkMu sync.Mutex
	// forkers are the ways to fork left, in order of preference: Start
	// uses the first (see forker). nil until the first Start sets them up.
	forkers []forker
	// server is the fork server, if the first Start set one up, whether or
	// not still in forkers: Close ends it.
	server forker
	// threads is the fork thread pool, whether or not still in forkers:
	// the leaders it forked count on it until they are released.
	threads *forkThreadPool

	// spawnMu orders spawning against the reaper: Start holds the read lock
	// around fork+register, the reaper holds the write lock while it lists and
	// reaps children, so it never sees an unregistered leader.
	spawnMu sync.RWMutex

	exits exitWatcher // observes the leaders' exits

	regMu     sync.Mutex
	leaders   map[int]*Process // registered leaders, not yet released
	unmanaged map[int]int      // children started by startUnmanaged (count per pid)

	// groupMu guards passes (the reaper passes started so far) and
	// groupWaiters (the WaitGroupEmpty calls waiting for a pass's verdict).
	groupMu      sync.Mutex
	passes       uint64
	finalPass    uint64 // the last pass whose listing was empty (final)
	groupWaiters map[*groupWaiter]struct{}
	kick         chan struct{} // cap 1: a WaitGroupEmpty asks for a pass

	// lifeMu guards closed and running. starts counts the Starts in
	// flight: each is added under lifeMu while not closed, so Close, once
	// it set closed, waits for the last.
	lifeMu  sync.Mutex
	closed  bool // Close was called: Start fails, Run returns at once
	running bool // Run runs
	starts  sync.WaitGroup
	// closeMu serializes Close; freed tells that it released everything.
	closeMu sync.Mutex
	freed   bool
}

// NewStarter returns a Starter. Call Run to reap orphans, and Close once
// done with it.
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
	s.threads = &forkThreadPool{null: s.nullFd, log: log}
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
// to the fork server or a fork thread (see forker), which take copies of
// the child's stdio with pidfd_getfd, a pidfd_open,
// registering the pidfd with the netpoller, and a map insert;
// plus one exec of the daemon's binary when the shim is needed (Umask, Nice,
// IONice or Rlimits set).
//
// With the shim, the shim also applies Credential, after nice, ionice and
// rlimits (a negative nice, the realtime class and a raised hard limit need
// privilege) and while still root, so the daemon's binary need not be
// executable by the instance's user (go test binaries live in a 0700 dir).
func (s *Starter) Start(spec Spec) (*Process, error) {
	name := spec.Name
	if name == "" && len(spec.Argv) > 0 {
		name = filepath.Base(spec.Argv[0])
	}
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer s.starts.Done()
	if len(spec.Argv) == 0 || spec.Argv[0] == "" {
		return nil, fmt.Errorf("start %s: empty command", name)
	}
	if err := checkLimits(spec); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
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
	env := spec.Env
	if env == nil {
		env = []string{}
	}
	request := func(argv0 string, argv []string, sys *syscall.SysProcAttr) *forkReq {
		return &forkReq{argv0: argv0, argv: argv, null: s.nullFd,
			attr: &syscall.ProcAttr{Dir: spec.Dir, Env: env, Files: stdio[:], Sys: sys}}
	}
	// Through the shim, the shim applies the credential and enters the
	// cgroups itself.
	viaShim := func() *forkReq { return request("/proc/self/exe", shimArgv(path, spec), sys) }
	var req *forkReq
	if needsShim(spec) {
		req = viaShim()
	} else {
		direct := *sys
		if c := spec.Credential; c != nil {
			direct.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
		}
		req = request(path, spec.Argv, &direct)
		if spec.Cgroup != nil {
			req.cgroup, req.viaShim = spec.Cgroup, viaShim()
		}
	}

	s.spawnMu.RLock()
	p, err := s.spawn(req, name, spec.ReapAtExit)
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

// spawn forks and execs r with the preferred forker left, and registers the
// child as a leader (see register). Called with spawnMu read-locked.
func (s *Starter) spawn(r *forkReq, name string, reapAtExit bool) (*Process, error) {
	for {
		f := s.forker()
		req := r
		if r.cgroup != nil && !f.joinsCgroups() {
			req = r.viaShim
		}
		c, err := f.forkExec(req)
		if errors.Is(err, errForker) && s.dropForker(f, err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p, err := s.register(c, name, reapAtExit)
		if err != nil {
			if c.thread != nil {
				c.thread.pool.release(c.thread)
			}
			return nil, err
		}
		return p, nil
	}
}

// forker returns the forker Start uses now. At the first call it sets the
// forkers up: the fork server first, when it can be started.
func (s *Starter) forker() forker {
	s.forkMu.Lock()
	defer s.forkMu.Unlock()
	if s.forkers == nil {
		s.forkers = []forker{s.threads, callerThread{}}
		if fs, err := newForkServer(maxForkThreads(), s.log); err != nil {
			s.log.V(1).Info("No fork server: forking on fork threads", "reason", err.Error())
		} else {
			s.forkers = append([]forker{fs}, s.forkers...)
			s.server = fs
		}
	}
	return s.forkers[0]
}

// dropForker gives up on f, whose machinery failed with err, unless it is
// the last forker left. It reports whether Start should try again: f is no
// longer the one in use.
func (s *Starter) dropForker(f forker, err error) bool {
	s.forkMu.Lock()
	defer s.forkMu.Unlock()
	if s.forkers[0] == f && len(s.forkers) > 1 {
		s.forkers = s.forkers[1:]
		s.log.V(1).Info("Forking elsewhere", "reason", err.Error(), "next", forkerName(s.forkers[0]))
	}
	return s.forkers[0] != f
}

// forkerName names f in logs.
func forkerName(f forker) string {
	switch f.(type) {
	case *forkThreadPool:
		return "fork threads"
	case callerThread:
		return "the callers' threads"
	default:
		return "fork server"
	}
}

// register records c as a leader, its exit watched through its pidfd
// (opened here when the forker did not), to be reaped when the exit is
// observed if reapAtExit (Spec.ReapAtExit). Called with spawnMu read-locked.
func (s *Starter) register(c forked, name string, reapAtExit bool) (*Process, error) {
	pidfd, nonblocking := c.pidfd, false
	if pidfd < 0 {
		var err error
		if pidfd, nonblocking, err = pidfdOpen(c.pid); err != nil {
			// Ours and unreaped: the pid is pinned, so a bare kill is safe here.
			_ = unix.Kill(c.pid, unix.SIGKILL)
			_, _ = unix.Wait4(c.pid, nil, 0, nil)
			return nil, err
		}
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
		starter:   s,
		pid:       c.pid,
		name:      name,
		pidfd:     pidfd,
		thread:    c.thread,
		reapEarly: reapAtExit,
	}
	// Registered before it is watched: a reap at exit (reapEarly)
	// unregisters it, and may come at once.
	s.regMu.Lock()
	s.leaders[c.pid] = p
	s.regMu.Unlock()
	if err := s.exits.watch(p); err != nil {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		_ = waitidReap(pidfd, 0)
		unix.Close(pidfd)
		s.regMu.Lock()
		delete(s.leaders, c.pid)
		s.regMu.Unlock()
		return nil, err
	}
	return p, nil
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
	var cg *cgroupError
	if errors.As(err, &cg) || !errors.As(err, &errno) {
		return err
	}
	if dir != "" && (errno == syscall.ENOENT || errno == syscall.ENOTDIR || errno == syscall.EACCES) {
		if _, serr := os.Stat(dir); serr != nil {
			return fmt.Errorf("chdir: %w", serr)
		}
	}
	return &fs.PathError{Op: "fork/exec", Path: path, Err: err}
}

// startUnmanaged runs start, which starts a child of this process by other means
// than Start (e.g. exec.Cmd.Start), so that the reaper never reaps it: start runs
// under the same lock as Start, and the returned pid is protected until done is
// called. Call done after the child has been waited for. (No other package
// needs it today: export it when code outside starts children of its own in
// new process groups.)
func (s *Starter) startUnmanaged(start func() (pid int, err error)) (done func(), err error) {
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
