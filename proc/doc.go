// Package proc is the daemon's process layer: it starts instance processes,
// each the leader of its own process group, tells when they exit without
// reaping them, signals them and their groups, reaps orphans, and finds the
// processes an earlier daemon left behind. It sits below both the reconciler
// and health (whose exec probes start through it).
//
// The face:
//
//	start      NewStarter, Starter.Start(Spec) -> *Process; Spec, Credential,
//	           LookupUser, LookPath; IONice (IOClassByName), Rlimit
//	           (RlimitResource); MaybeRunShim (first thing in every main
//	           and TestMain that uses the package)
//	signal     Process.Signal (the leader, through its pidfd),
//	           Process.SignalGroup (kill(-pgid)), SignalName
//	wait       Process.Wait, Done, OnExit: the leader's ExitStatus, observed
//	           without reaping; Process.WaitGroupEmpty, OnGroupEmpty,
//	           GroupGone: the rest of the group is gone too
//	release    Process.Release: reap the leader; the pid may be reused after
//	reaper     BecomeSubreaper, Starter.Run: reap orphans, judge groups empty
//	close      Starter.Close: give back the Starter's threads, goroutines and
//	           fds, once Run returned and every Process was released;
//	           Start then fails with ErrClosed
//	leftovers  FindStaleAll, KillStaleProcesses: an earlier daemon's processes
//
// Process lifecycle, as the reconciler sees it:
//
//	Start ──> running ──exit──> exited (zombie, pgid pinned) ──Release──> released
//	            │ Signal (pidfd)      │ Wait returns the status
//	            │ SignalGroup         │ SignalGroup still safe; WaitGroupEmpty/OnGroupEmpty/GroupGone
//	            └─────────────────────┴─ to stop: SignalGroup, WaitGroupEmpty (bounded),
//	                                     SIGKILL to the group, WaitGroupEmpty, Release
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
//   - One Starter at a time in a process: two reapers would reap each
//     other's leaders. A Starter lives from NewStarter to [Starter.Close],
//     which requires that [Starter.Run] has returned and every Process has
//     been released (a leader's forking thread must outlive it, see below),
//     refuses otherwise, and then gives back every thread, goroutine and fd
//     the Starter made (fork server, fork threads, exit watcher, /dev/null)
//     and waits until they are gone. The next Starter comes after that.
//   - No package state: everything (the fork server and fork threads
//     included) belongs to a Starter; nothing panics or exits but the exec
//     shim, which is a main of its own.
//
// Other children of the daemon. The reaper reaps every child that is not a
// registered leader, except zombies in the daemon's own process group: children
// started by other code (os/exec without Setpgid) that will reap them
// themselves. Code that starts a child in a new process group must do it
// through [Starter.Start], or the reaper may take its exit status (exec.Cmd.Wait
// then fails with "no child processes"); the Starter can protect such a child
// (startUnmanaged), but no package needs that yet.
//
// umask, nice, ionice and rlimits are not in syscall.SysProcAttr (and ionice and
// nice are per thread), so a Spec that sets any of them is started through a tiny
// exec shim: the daemon's own binary, re-executed under a marker argv[0], applies
// them and execs the real program in the same process (same pid, process group
// and parent-death signal). Every main() that uses this package,
// and TestMain of every test binary that does, must call [MaybeRunShim] first.
//
// Threads and PR_SET_PDEATHSIG. The parent-death signal fires when the *thread*
// that forked the child exits, not the process. Start hands the fork to a
// forker (one internal interface, three strategies, tried in this order; one
// whose machinery fails is dropped for good):
//
//   - forkServer (cgo builds): C threads outside the Go scheduler, one per
//     CPU the runtime uses (at most 4), each with a private, nearly empty fd
//     table so that fork+exec does not cost O(fds the daemon holds). A
//     Starter sets its server up at its first Start; the threads live until
//     [Starter.Close], which joins them.
//   - forkThreadPool (without cgo, or when the server cannot be set up): Go
//     threads locked to their goroutine with the same kind of table, each
//     living as long as a leader it forked is unreleased (and idle a while
//     after), or until [Starter.Close]. Other Go threads
//     live as long as the process, except one whose goroutine called
//     runtime.LockOSThread and returned without unlocking: the runtime then
//     ends that thread.
//   - callerThread (Linux before 5.6): the calling goroutine's thread. Never
//     call [Starter.Start] from a goroutine locked to its thread, or the
//     instance is SIGKILLed when the goroutine ends.
//
// The package is Linux only (pidfd, P_PIDFD, /proc, PR_SET_CHILD_SUBREAPER);
// Linux 5.4 or later (waitid P_PIDFD, pollable pidfd, clone(CLONE_PIDFD)), 5.6
// for fork threads (pidfd_getfd), 5.9 for the fork server (close_range).
//
// docs/internals.md tells how it fits in: see "Starting processes" and "Exits, stops and reaping".
package proc
