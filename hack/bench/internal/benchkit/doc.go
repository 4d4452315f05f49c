// Package benchkit holds what the benchmark harnesses under hack/bench
// (daemon, probes, logs) share: reading /proc from outside the processes
// they measure, and starting, tracking and ending those processes.
//
//   - Observer lists a parent's children and matches their argv with one
//     reused buffer, and times a SIGKILL until the replacement runs
//     (Replacement, of a random child, or ReplaceVictim, of one the caller
//     picks; WaitNewChild). It polls, the same way for the daemon and
//     for any baseline it is compared with, so that its cost and resolution
//     weigh the same on both sides of a ratio.
//   - CPUTicks, RunNanos, ReadCPU, ChildrenNanos, MemKiB and Threads read a
//     process's CPU time (utime+stime ticks; schedstat nanoseconds, summed
//     per thread so that a thread that ends in between subtracts nothing)
//     and memory; LoadAvg reads the machine's load average for the report,
//     and RaiseNofile raises the soft limit on open files to the hard one
//     for the harness and what it starts.
//   - Procs starts the daemon (StartDaemon) and helpers that talk over
//     stdin/stdout (StartPiped), each in its own process group and carrying
//     TokenEnv=token in its environment; Proc ends one (Stop: SIGTERM, a
//     bounded wait, SIGKILL to the group). Procs.Cleanup ends them all, then
//     SIGKILLs whatever still carries the token, then removes the Workspace.
//   - Workspace places and removes spec files by rename, the way an editor
//     saves; ReadStatusHead reads the head of a status file.
//   - Median, Quantile and Join summarise samples; Guard cleans up on a
//     signal or when the whole run takes too long.
//
// Invariants: an Observer is not safe for concurrent use. Once Cleanup has
// begun, a Procs starts nothing more, so that no process escapes it.
// Nothing here exits or writes to stdout: the harnesses own their tables
// and their exit status (Guard takes os.Exit from main, and says on stderr
// why it cleans up).
package benchkit
