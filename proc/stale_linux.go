package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables that mark an instance's processes; the reconciler sets
// them (see docs/reference.md §2).
const (
	envProgram  = "RECONCILED_PROGRAM"
	envInstance = "RECONCILED_INSTANCE"
)

// staleStartSlack is how much earlier than the recorded start a process may
// appear to have started: /proc/stat's btime has a one-second resolution.
const staleStartSlack = 2 * time.Second

// StaleQuery describes an instance that an earlier daemon recorded as running.
type StaleQuery struct {
	Program   string
	Index     int
	LeaderPid int       // the recorded leader pid, i.e. the pgid of its group
	StartedAt time.Time // the recorded start time
	// Marks are more "KEY=VALUE" entries that the environment must hold, e.g.
	// one naming the daemon's directory, so that a process of another daemon
	// (same program name and index, a reused pid as pgid) is not taken.
	Marks []string
}

// StaleProcess is a process found by FindStaleAll. Pid and StartTicks together
// identify it; KillStaleProcesses checks both.
type StaleProcess struct {
	Pid        int
	StartTicks uint64 // start time in clock ticks since boot (/proc/PID/stat field 22)
	Query      int    // index of the matching StaleQuery
}

// findStale is FindStaleAll for one instance; it returns the pids found.
func findStale(program string, index int, leaderPid int, startedAt time.Time) ([]int, error) {
	found, err := FindStaleAll([]StaleQuery{{Program: program, Index: index, LeaderPid: leaderPid, StartedAt: startedAt}})
	if err != nil {
		return nil, err
	}
	pids := make([]int, len(found))
	for i, f := range found {
		pids[i] = f.Pid
	}
	return pids, nil
}

// FindStaleAll returns the live processes left from instances of an earlier
// daemon. A process matches a query when it is in process group LeaderPid,
// has RECONCILED_PROGRAM=Program, RECONCILED_INSTANCE=Index and every mark
// in its environment, and started no earlier than StartedAt (less 2s of
// slack). The daemon calls it at start for every instance its status files
// record; it scans /proc once, and reads the environment only of processes
// whose pgid is a queried LeaderPid.
func FindStaleAll(queries []StaleQuery) ([]StaleProcess, error) {
	byPgid := make(map[int][]int, len(queries))
	for i, q := range queries {
		if q.LeaderPid > 0 {
			byPgid[q.LeaderPid] = append(byPgid[q.LeaderPid], i)
		}
	}
	if len(byPgid) == 0 {
		return nil, nil
	}
	btime, err := bootTime()
	if err != nil {
		return nil, fmt.Errorf("find stale processes: %w", err)
	}
	pids, err := listPids()
	if err != nil {
		return nil, fmt.Errorf("find stale processes: %w", err)
	}
	self := os.Getpid()
	var found []StaleProcess
	var envBuf []byte
	for _, pid := range pids {
		if pid == self {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.dead() {
			continue // gone, or dead already
		}
		qs, ok := byPgid[st.pgid]
		if !ok {
			continue
		}
		env, err := readFile("/proc/"+strconv.Itoa(pid)+"/environ", envBuf)
		if err != nil {
			continue
		}
		envBuf = env[:0]
		prog, hasProg := environValue(env, envProgram)
		inst, hasInst := environValue(env, envInstance)
		if !hasProg || !hasInst {
			continue
		}
		started := ticksToTime(btime, st.startTicks)
		for _, qi := range qs {
			q := queries[qi]
			if string(prog) == q.Program && string(inst) == strconv.Itoa(q.Index) &&
				!started.Before(q.StartedAt.Add(-staleStartSlack)) && hasMarks(env, q.Marks) {
				found = append(found, StaleProcess{Pid: pid, StartTicks: st.startTicks, Query: qi})
				break
			}
		}
	}
	return found, nil
}

// hasMarks reports whether env holds every "KEY=VALUE" entry of marks.
func hasMarks(env []byte, marks []string) bool {
	for _, m := range marks {
		k, v, _ := strings.Cut(m, "=")
		if got, ok := environValue(env, k); !ok || string(got) != v {
			return false
		}
	}
	return true
}

// environValue returns the value of key in a NUL-separated environ block. The
// first occurrence wins, as for getenv(3).
func environValue(env []byte, key string) ([]byte, bool) {
	for len(env) > 0 {
		var kv []byte
		if i := bytes.IndexByte(env, 0); i >= 0 {
			kv, env = env[:i], env[i+1:]
		} else {
			kv, env = env, nil
		}
		if len(kv) > len(key) && kv[len(key)] == '=' && string(kv[:len(key)]) == key {
			return kv[len(key)+1:], true
		}
	}
	return nil, false
}

// KillStaleProcesses SIGKILLs the given processes, each through a pidfd and only
// if it is still the same process (same start time). Processes that are gone
// are skipped. It returns the errors joined.
func KillStaleProcesses(procs []StaleProcess) error {
	var errs []error
	for _, sp := range procs {
		if err := killVerified(sp.Pid, func(st procStat) bool { return st.startTicks == sp.StartTicks }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killStale SIGKILLs the given pids, each through a pidfd, and only if the
// process still carries the RECONCILED_PROGRAM and RECONCILED_INSTANCE marks.
// The daemon uses FindStaleAll with KillStaleProcesses, which also check
// the start time.
func killStale(pids []int) error {
	var errs []error
	for _, pid := range pids {
		err := killVerified(pid, func(procStat) bool {
			env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err != nil {
				return false
			}
			_, p := environValue(env, envProgram)
			_, i := environValue(env, envInstance)
			return p && i
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killVerified SIGKILLs pid, by signalVerified.
func killVerified(pid int, same func(procStat) bool) error {
	return signalVerified(pid, unix.SIGKILL, same)
}

// signalVerified sends sig to pid without ever signalling another process
// that reused the pid: it opens a pidfd first (which pins the process it
// names), then checks that /proc/PID is still the process it wants, then
// signals the pidfd. If the pidfd's process died before the check, the check
// may have read a newcomer, but then the signal goes to the dead process and
// does nothing.
func signalVerified(pid int, sig unix.Signal, same func(procStat) bool) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("signal process %d: pidfd_open: %w", pid, err)
	}
	defer unix.Close(fd)
	st, err := readStat(pid)
	if err != nil || st.dead() || !same(st) {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal process %d: %w", pid, err)
	}
	return nil
}
