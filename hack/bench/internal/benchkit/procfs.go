package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUTicks returns utime+stime of pid in clock ticks (USER_HZ = 100). It
// counts the process's exited threads too.
func CPUTicks(pid int) (int64, error) { return statTicks(pid, 14) }

// ChildCPUTicks returns cutime+cstime of pid in clock ticks (USER_HZ =
// 100): the CPU time of its children that it has reaped, each counted
// whole when it is reaped.
func ChildCPUTicks(pid int) (int64, error) { return statTicks(pid, 16) }

// statTicks returns the sum of fields n and n+1 (numbered from 1, as in
// proc(5)) of /proc/PID/stat.
func statTicks(pid, n int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < n-1 {
		return 0, errors.New("short stat")
	}
	u, err1 := strconv.ParseInt(f[n-3], 10, 64)
	s, err2 := strconv.ParseInt(f[n-2], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad stat times")
	}
	return u + s, nil
}

// TickDuration is one clock tick of /proc/PID/stat (USER_HZ = 100).
const TickDuration = 10 * time.Millisecond

// ThreadNanos is the on-CPU time of each live thread of a process, by tid.
type ThreadNanos map[string]int64

// RunNanos reads the on-CPU time of pid's live threads from
// /proc/PID/task/TID/schedstat (first field, nanoseconds). It returns nil
// when pid is gone.
func RunNanos(pid int) ThreadNanos {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	m := make(ThreadNanos, len(tids))
	for _, t := range tids {
		if n, ok := schedstatNanos(dir + "/" + t.Name() + "/schedstat"); ok {
			m[t.Name()] = n
		}
	}
	return m
}

// Since returns the CPU time the threads of now ran after then: a thread
// that has ended since then counts nothing (its last moments are lost, but
// no thread's whole past is subtracted), a new one counts all its time.
func (now ThreadNanos) Since(then ThreadNanos) int64 {
	var sum int64
	for tid, n := range now {
		sum += n - then[tid]
	}
	return sum
}

// ChildrenNanos returns the CPU time (schedstat) the processes pids have
// run, each since its fork: for a child that has exec'd, the time before
// exec counts too. Processes that are gone count nothing.
func ChildrenNanos(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		if n, ok := schedstatNanos("/proc/" + strconv.Itoa(pid) + "/schedstat"); ok {
			sum += n
		}
	}
	return sum
}

// schedstatNanos reads the first field of a schedstat file: the time on the
// CPU, in nanoseconds. ok is false when the file cannot be read or is empty;
// a field that does not parse reads as 0.
func schedstatNanos(path string) (n int64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	n, _ = strconv.ParseInt(f[0], 10, 64)
	return n, true
}

// CPUUse is a process's CPU time over a window, two ways.
type CPUUse struct {
	Ticks int64 // utime+stime from /proc/PID/stat, in USER_HZ (100) ticks; counts exited threads too
	NS    int64 // /proc/PID/task/*/schedstat run time, in nanoseconds, summed per thread
}

// CPUReading is one reading of a process's CPU time, both ways.
type CPUReading struct {
	Ticks   int64
	Threads ThreadNanos
}

// ReadCPU reads pid's utime+stime and then its threads' schedstat.
func ReadCPU(pid int) (CPUReading, error) {
	t, err := CPUTicks(pid)
	if err != nil {
		return CPUReading{}, err
	}
	return CPUReading{Ticks: t, Threads: RunNanos(pid)}, nil
}

// Since returns the CPU time from r0 to r. The schedstat sum is taken per
// thread (see ThreadNanos.Since): the run time of a thread that exits in
// between is lost instead of subtracted, and ticks, which count it, are the
// cross-check.
func (r CPUReading) Since(r0 CPUReading) CPUUse {
	return CPUUse{Ticks: r.Ticks - r0.Ticks, NS: r.Threads.Since(r0.Threads)}
}

// MemKiB returns VmRSS and VmHWM of pid in KiB.
func MemKiB(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.ParseInt(f[1], 10, 64)
		case "VmHWM:":
			hwm, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return rss, hwm, nil
}

// Threads counts pid's threads (0 when it is gone).
func Threads(pid int) int {
	tids, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	return len(tids)
}

// LoadAvg returns the first three fields of /proc/loadavg ("2.47 2.70
// 3.00"), or "?" when it cannot be read: how loaded the machine was, for
// the report.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// RaiseNofile raises this process's soft limit on open files to its hard
// limit, so that its children (the daemon, the baselines) inherit it, and
// returns the limit before and after. Setting it explicitly also stops Go
// from restoring the original soft limit in the children it starts.
func RaiseNofile() (was, now syscall.Rlimit, err error) {
	if err = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &was); err != nil {
		return was, was, fmt.Errorf("getrlimit: %w", err)
	}
	now = syscall.Rlimit{Cur: was.Max, Max: was.Max}
	if err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
		return was, was, fmt.Errorf("setrlimit: %w", err)
	}
	return was, now, nil
}
