package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times. It is 100 on every
// Linux architecture Go supports (sysconf(_SC_CLK_TCK) is a constant there).
const clockTicks = 100

// procStat holds the fields of /proc/PID/stat that this package uses.
type procStat struct {
	state      byte   // field 3: R, S, D, Z, T, ...
	ppid       int    // field 4
	pgid       int    // field 5
	nice       int    // field 19
	startTicks uint64 // field 22: start time in clock ticks since boot
}

// dead reports whether the state letter is that of a process that has exited:
// Z (zombie) or X (being reaped: wait has claimed the zombie, and /proc still
// shows it for a moment).
func (st procStat) dead() bool { return st.state == 'Z' || st.state == 'X' || st.state == 'x' }

func statPath(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/stat" }

// readStat reads /proc/PID/stat. The error wraps fs.ErrNotExist when there is
// no such process.
func readStat(pid int) (procStat, error) {
	var buf [1024]byte
	b, err := readFile(statPath(pid), buf[:0])
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// readFile reads a whole file into buf's backing array (growing it if needed).
// It uses raw syscalls: os.Open would also try, and fail, to register each
// /proc file with the netpoller, which triples the syscalls of a reaper pass.
func readFile(path string, buf []byte) ([]byte, error) {
	fd, err := openRO(path, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b := buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := unix.Read(fd, b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

func openRO(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// readDirNames returns the names in directory path, without "." and "..".
func readDirNames(path string) ([]string, error) {
	fd, err := openRO(path, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "getdents", Path: path, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

// parseStat parses the content of /proc/PID/stat. The command name (field 2) is
// in parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("parse stat: malformed %q", b)
	}
	var st procStat
	field := 3
	rest := b[i+2:]
	for len(rest) > 0 && field <= 22 {
		j := bytes.IndexByte(rest, ' ')
		var f []byte
		if j < 0 {
			f, rest = rest, nil
		} else {
			f, rest = rest[:j], rest[j+1:]
		}
		var err error
		switch field {
		case 3:
			st.state = f[0]
		case 4:
			st.ppid, err = strconv.Atoi(string(f))
		case 5:
			st.pgid, err = strconv.Atoi(string(f))
		case 19:
			st.nice, err = strconv.Atoi(string(f))
		case 22:
			st.startTicks, err = strconv.ParseUint(string(f), 10, 64)
		}
		if err != nil {
			return procStat{}, fmt.Errorf("parse stat field %d: %w", field, err)
		}
		field++
	}
	if field <= 22 {
		return procStat{}, fmt.Errorf("parse stat: only %d fields", field-1)
	}
	return st, nil
}

// bootTime reads btime (seconds since the epoch) from /proc/stat.
func bootTime() (time.Time, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("btime ")); ok {
			sec, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parse /proc/stat btime: %w", err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	if err := sc.Err(); err != nil {
		return time.Time{}, err
	}
	return time.Time{}, errors.New("no btime in /proc/stat")
}

// ticksToTime converts a start time in clock ticks since boot to wall time.
// btime has a one-second resolution, so the result may be up to 1s early.
func ticksToTime(btime time.Time, ticks uint64) time.Time {
	return btime.Add(time.Duration(ticks) * (time.Second / clockTicks))
}

// listPids returns the pids of all processes, from the names in /proc.
func listPids() ([]int, error) {
	names, err := readDirNames("/proc")
	if err != nil {
		return nil, err
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if n == "" || n[0] < '0' || n[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(n); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// childLister lists the direct children of this process.
type childLister struct {
	self int
	// useChildrenFile is false when the kernel lacks /proc/PID/task/TID/children
	// (CONFIG_PROC_CHILDREN); then /proc is scanned for ppid == self.
	useChildrenFile bool
}

func newChildLister() childLister {
	self := os.Getpid()
	// The main thread (tid == pid) lives as long as the process.
	_, err := os.Stat(fmt.Sprintf("/proc/self/task/%d/children", self))
	return childLister{self: self, useChildrenFile: err == nil}
}

// children returns the pids of this process's direct children, live or zombie.
// A child is listed under the thread that forked it, or, for a reparented
// orphan, under the thread the kernel chose as its new parent, so every thread
// is read.
func (c childLister) children() ([]int, error) { return c.childrenExcept(nil) }

// childrenExcept is children without the children of the threads skip
// names: threads whose every child is a registered leader (the fork
// server's), which a caller that skips leaders anyway need not read, at
// a few bytes a leader. When the children file is missing this is the
// full scan.
func (c childLister) childrenExcept(skip map[string]bool) ([]int, error) {
	if !c.useChildrenFile {
		return c.scanChildren()
	}
	tids, err := readDirNames("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var pids []int
	buf := make([]byte, 4096)
	for _, tid := range tids {
		if skip[tid] {
			continue
		}
		b, err := readFile("/proc/self/task/"+tid+"/children", buf)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
				continue // the thread ended meanwhile
			}
			return nil, err
		}
		buf = b[:0]
		pids = appendPids(pids, b)
	}
	return pids, nil
}

// orphans returns the children listed under the main thread only. Linux
// reparents an orphan to the first live thread of the subreaper
// (find_alive_thread), which for a Go program is always the main thread (tid ==
// pid: the runtime never ends it). So every orphan is found here at the cost of
// one file, while leaders are spread over the threads that forked them. When
// the children file is missing this is the full scan.
func (c childLister) orphans() ([]int, error) {
	if !c.useChildrenFile {
		return c.scanChildren()
	}
	b, err := readFile("/proc/self/task/"+strconv.Itoa(c.self)+"/children", make([]byte, 0, 4096))
	if err != nil {
		return nil, err
	}
	return appendPids(nil, b), nil
}

// scanChildren is the fallback of children: one pass over /proc.
func (c childLister) scanChildren() ([]int, error) {
	all, err := listPids()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, pid := range all {
		st, err := readStat(pid)
		if err == nil && st.ppid == c.self {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// appendPids appends the space-separated decimal numbers in b to pids.
func appendPids(pids []int, b []byte) []int {
	n, in := 0, false
	for _, c := range b {
		if c >= '0' && c <= '9' {
			n, in = n*10+int(c-'0'), true
			continue
		}
		if in {
			pids = append(pids, n)
		}
		n, in = 0, false
	}
	if in {
		pids = append(pids, n)
	}
	return pids
}
