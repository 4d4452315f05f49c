// Package usage tells how much CPU time and memory an instance uses, read
// on demand: by the command line for `status -o wide` and `describe`, and
// by anything in the daemon that reports usage (the metrics). Nothing here
// runs on a timer, and nothing is written to the status files, which are
// rewritten only when the state changes.
//
// Where the figures come from, in this order:
//
//   - The instance's cgroup, ROOT/NAME/NAME-i (see package cgroup): CPU from
//     cpu.stat usage_usec (or v1 cpuacct.usage), memory from memory.current
//     (or the instance's v1 memory cgroup). Source "cgroup".
//   - The same cgroup for CPU, and the resident set of the processes in it
//     for memory (each member's /proc/PID/stat), where the instance has no
//     memory cgroup (a hybrid host, whose memory controller is in v1, and no
//     memory limit). Source "cgroup+proc".
//   - /proc of the instance's process group, whose leader is the pid the
//     status file records: utime+stime of every process in the group, plus
//     the times of the children they have reaped, and the sum of their
//     resident sets. Source "processGroup". It misses what left the group
//     (setsid), which only a cgroup keeps.
//
// The command line finds the cgroups through a record the daemon writes
// into its state directory (.reconciled/cgroup: WriteRecord, ReadRecord)
// when it runs with cgroups, and removes when it runs without.
//
// Invariants: a Reader scans all of /proc at most once, whatever the number
// of instances it is asked about, and only for an instance without a
// cgroup; reading a process's stat file costs three system calls; the record
// is written atomically; no package state.
package usage
