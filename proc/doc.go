// Package proc is the OS process layer of the reconciler: it starts instance
// processes, tells when they exit, signals them and their process groups, reaps
// orphans, and finds processes left behind by an earlier daemon.
//
// Invariants:
//
//   - Every instance is the leader of its own process group (Setpgid). Stop and
//     kill go to the group.
//   - A process is never signalled by a bare PID that might have been reused. The
//     leader is signalled through its pidfd (pidfd_send_signal). The group is
//     signalled with kill(-pgid) only while the leader is unreaped (running or a
//     zombie): an unreaped leader pins its pid, and so the pgid number, which can
//     then not name another group.
//   - Therefore the leader is never reaped before the caller says so with
//     [Process.Release]. [Process.Wait] observes the exit with waitid(WNOWAIT).
//   - Exit notification costs no thread, no polling and no goroutine per
//     process: every leader's pidfd (which turns readable when its process
//     exits) is in one epoll set, whose fd Go's netpoller watches; one
//     goroutine, parked while nothing happens, takes the exits (see
//     exitWatcher). OnExit callbacks run on that goroutine, so they must not
//     block.
//   - The daemon is a child subreaper ([BecomeSubreaper]). Orphans of instances are
//     reparented to it and [Starter.Run] reaps them, never a registered leader. A
//     leader is registered before the reaper can look: Start holds a read lock
//     around fork+register, and the reaper holds the write lock while it decides.
//   - One Starter per process. Two reapers would reap each other's leaders.
//
// Other children of the daemon. The reaper reaps every child that is not a
// registered leader, except (a) children registered with [Starter.StartUnmanaged]
// and (b) zombies in the daemon's own process group, which are children started
// by other code (os/exec without Setpgid, e.g. exec probes) that will reap them
// themselves. Code that starts a child in a new process group by any other means
// than [Starter.Start] must do it through [Starter.StartUnmanaged], or the reaper
// may take its exit status (exec.Cmd.Wait then fails with "no child processes").
//
// Process lifecycle, as the reconciler sees it:
//
//	Start ──> running ──exit──> exited (zombie, pgid pinned) ──Release──> released
//	            │ Signal (pidfd)      │ Wait returns the status
//	            │ SignalGroup         │ SignalGroup still safe; GroupAlive/WaitGroupEmpty/OnGroupEmpty
//	            └─────────────────────┴─ Terminate = sig, wait, SIGKILL, wait, Release
//
// umask and nice are not in syscall.SysProcAttr, so a Spec that sets them is started
// through a tiny exec shim: the daemon's own binary, re-executed under a marker
// argv[0], applies them and execs the real program in the same process (same pid,
// process group and parent-death signal). Every main() that uses this package,
// and TestMain of every test binary that does, must call [MaybeRunShim] first.
//
// Threads and PR_SET_PDEATHSIG. The parent-death signal fires when the *thread*
// that forked the child exits, not the process. In cgo builds Start forks on
// the fork server (see forkServer): C threads outside the Go scheduler, one
// per CPU the runtime uses (at most 4), each with a private, nearly empty fd
// table so that fork+exec does not cost O(fds the daemon holds), living as
// long as the process. Without cgo, or when the server cannot be set up,
// Start forks on fork threads (see forkThread): Go threads locked to their
// goroutine with the same kind of table, each living as long as a leader it
// forked is unreleased. Other Go threads live as long as the process, except
// one whose goroutine called runtime.LockOSThread and returned without
// unlocking: the runtime then ends that thread. When neither can be set up
// (Linux before 5.6), Start forks on the calling thread: never call
// [Starter.Start] from such a goroutine, or the instance is SIGKILLed when
// the goroutine ends.
//
// The package is Linux only (pidfd, P_PIDFD, /proc, PR_SET_CHILD_SUBREAPER);
// Linux 5.4 or later (waitid P_PIDFD, pollable pidfd, clone(CLONE_PIDFD)), 5.6
// for fork threads (pidfd_getfd), 5.9 for the fork server (close_range).
package proc
