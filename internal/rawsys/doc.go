// Package rawsys makes the few system calls of the daemon's busy paths that
// never block (read of a non-blocking pipe, close of a pipe or pidfd,
// waitid with WNOHANG, epoll_wait with a zero timeout, kill, the open, read
// and close of a cgroup control file, and a cgroup's rmdir) without telling
// Go's scheduler.
//
// Why. A call through syscall.Syscall marks its thread as in a system call;
// if the call takes longer than the scheduler monitor's tick (20 µs when the
// process is busy), the monitor hands the thread's P to another thread, and
// the caller must take one back when it returns. Reaping a leader, or
// closing a pipe that was in an epoll set, takes about that long, and so
// does a kill whose woken process takes the CPU before the call returns.
// During a stop of many instances that hand-off churn, and the monitor
// waking at its tick to do it, were a visible share of the daemon's CPU
// (see hack/bench/README.md). syscall.RawSyscall skips both.
//
// Invariant: only calls that cannot block go through here. A cgroup
// control file or directory (kernfs) waits for no I/O and no other
// process; at most for a kernel lock held as briefly as another cgroup's
// mkdir or rmdir. A call that could wait (a blocking fd, waitid without
// WNOHANG, a timeout) would hold its P for as long, and must use
// golang.org/x/sys/unix instead.
//
// docs/internals.md tells how it fits in: see "Scheduler notes".
package rawsys
