package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// observer reads /proc the same way for the daemon and for the baselines, so
// that its own cost and resolution weigh the same on both sides of a ratio.
// It reuses one buffer: a poll allocates almost nothing.
type observer struct {
	buf  []byte
	kids []int
}

func newObserver() *observer { return &observer{buf: make([]byte, 0, 64<<10)} }

// read reads a whole (small) file into o.buf with raw syscalls.
func (o *observer) read(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	b := o.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			o.buf = b[:0]
			return b, nil
		}
		b = b[:len(b)+n]
	}
}

// children lists the direct children of pid: the union of
// /proc/PID/task/*/children (a child is listed under the thread that forked it).
// The slice is reused by the next call.
func (o *observer) children(pid int) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	tids, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, err
	}
	kids := o.kids[:0]
	for _, tid := range tids {
		b, err := o.read(dir + "/" + tid + "/children")
		if err != nil {
			continue // the thread exited meanwhile
		}
		n, in := 0, false
		for _, c := range b {
			if c >= '0' && c <= '9' {
				n, in = n*10+int(c-'0'), true
			} else if in {
				kids, n, in = append(kids, n), 0, false
			}
		}
		if in {
			kids = append(kids, n)
		}
	}
	o.kids = kids
	return kids, nil
}

// cmdlineIs reports whether pid's argv is want (NUL-separated, NUL-ended). A
// match means the process has exec'd that program and is not a zombie (a
// zombie's cmdline is empty).
func (o *observer) cmdlineIs(pid int, want string) bool {
	b, err := o.read("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && string(b) == want
}

// alive reports whether pid exists and is not a zombie.
func (o *observer) alive(pid int) bool {
	b, err := o.read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// cmdline renders an argv as /proc/PID/cmdline shows it.
func cmdline(argv ...string) string { return strings.Join(argv, "\x00") + "\x00" }

// cpuTicks returns utime+stime of pid in clock ticks (USER_HZ = 100).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad stat times")
	}
	return u + s, nil
}

// threadNanos is the on-CPU time of each live thread of a process, by tid.
type threadNanos map[string]int64

// runNanos reads the on-CPU time of pid's live threads from
// /proc/PID/task/TID/schedstat (nanoseconds).
func runNanos(pid int) threadNanos {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	m := make(threadNanos, len(tids))
	for _, t := range tids {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			m[t.Name()] = n
		}
	}
	return m
}

// since returns the CPU time the threads of now ran after then: a thread
// that has ended since then counts nothing (its last moments are lost, but
// no thread's whole past is subtracted), a new one counts all its time.
func (now threadNanos) since(then threadNanos) int64 {
	var sum int64
	for tid, n := range now {
		sum += n - then[tid]
	}
	return sum
}

// childrenNanos returns the CPU time (schedstat) the processes pids have run,
// each since its fork: for a child that has exec'd, the time before exec
// counts too. Processes that are gone count nothing.
func childrenNanos(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/schedstat")
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}

// memKiB returns VmRSS and VmHWM of pid in KiB.
func memKiB(pid int) (rss, hwm int64, err error) {
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

// threads counts pid's threads.
func threads(pid int) int {
	tids, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	return len(tids)
}

// waitRunning polls the children of parent every interval until n of them run
// argv want, and returns the time since t0. extra, if set, is polled in the
// same loop and must also report done (it gets the time since t0 to record).
func (o *observer) waitRunning(parent int, want string, n int, t0 time.Time, interval, timeout time.Duration, extra func(time.Duration) bool) (time.Duration, error) {
	confirmed := make(map[int]bool, n)
	var running time.Duration
	extraDone := extra == nil
	for {
		if running == 0 {
			kids, err := o.children(parent)
			if err != nil {
				return 0, fmt.Errorf("children of %d: %w", parent, err)
			}
			count := 0
			for _, pid := range kids {
				if confirmed[pid] || o.cmdlineIs(pid, want) {
					confirmed[pid] = true
					count++
				}
			}
			if count >= n {
				running = time.Since(t0)
			}
		}
		if !extraDone {
			extraDone = extra(time.Since(t0))
		}
		if running > 0 && extraDone {
			return running, nil
		}
		if time.Since(t0) > timeout {
			return 0, fmt.Errorf("timed out after %v: %d of %d running", timeout, len(confirmed), n)
		}
		time.Sleep(interval)
	}
}

// matching returns the children of parent that run argv want.
func (o *observer) matching(parent int, want string) ([]int, error) {
	kids, err := o.children(parent)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range kids {
		if o.cmdlineIs(pid, want) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// deathWatch tells when a set of processes (not necessarily our children)
// have all exited, through pidfds in an epoll set: no polling of /proc.
type deathWatch struct {
	ep    int
	fds   map[int32]int // pidfd -> pid
	pids  []int
	alive int
}

// newDeathWatch opens a pidfd for each pid; call it before the stop starts.
func newDeathWatch(pids []int) (*deathWatch, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	w := &deathWatch{ep: ep, fds: make(map[int32]int, len(pids)), pids: pids}
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err == unix.ESRCH {
			continue // already gone
		}
		if err != nil {
			w.close()
			return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(fd)
			w.close()
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
		w.fds[int32(fd)] = pid
		w.alive++
	}
	return w, nil
}

// wait waits up to d for exits and returns how many are still alive.
func (w *deathWatch) wait(d time.Duration) int {
	if w.alive == 0 {
		return 0
	}
	var evs [256]unix.EpollEvent
	ms := int(d / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	n, err := unix.EpollWait(w.ep, evs[:], ms)
	if err != nil {
		return w.alive // EINTR: try again
	}
	for _, ev := range evs[:n] {
		if _, ok := w.fds[ev.Fd]; ok {
			_ = unix.EpollCtl(w.ep, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			unix.Close(int(ev.Fd))
			delete(w.fds, ev.Fd)
			w.alive--
		}
	}
	return w.alive
}

func (w *deathWatch) close() {
	for fd := range w.fds {
		unix.Close(int(fd))
	}
	w.fds = nil
	unix.Close(w.ep)
}

// stopTimes are what a stop-all observation yields, each since the stop began.
type stopTimes struct {
	dead   time.Duration // the last process exited (zombie or gone)
	reaped time.Duration // none is left among parent's children (0 if not watched)
}

// left counts the tracked pids still among parent's children (0 when the
// parent itself is gone: nothing is left to reap).
func (o *observer) left(parent int, tracked map[int]bool) int {
	kids, err := o.children(parent)
	if err != nil {
		return 0
	}
	n := 0
	for _, pid := range kids {
		if tracked[pid] {
			n++
		}
	}
	return n
}

// waitStopped waits until every process of w has exited and, when parent > 0,
// none of them is left among parent's children (all reaped).
func (o *observer) waitStopped(w *deathWatch, parent int, t0 time.Time, interval, timeout time.Duration) (stopTimes, error) {
	var st stopTimes
	tracked := make(map[int]bool, len(w.pids))
	for _, p := range w.pids {
		tracked[p] = true
	}
	for {
		if st.dead == 0 && w.wait(interval) == 0 {
			st.dead = time.Since(t0)
		}
		// The children files are not a snapshot: a listing taken while
		// another child is reaped can skip an entry, so "none left" needs
		// two listings in a row that agree.
		if parent > 0 && st.reaped == 0 && o.left(parent, tracked) == 0 && o.left(parent, tracked) == 0 {
			st.reaped = time.Since(t0)
		}
		if st.dead > 0 && (parent <= 0 || st.reaped > 0) {
			if st.reaped > 0 && st.reaped < st.dead {
				st.reaped = st.dead // seen gone from the list before the epoll said so
			}
			return st, nil
		}
		if time.Since(t0) > timeout {
			return st, fmt.Errorf("timed out after %v: %d of %d still alive", timeout, w.alive, len(w.pids))
		}
		if st.dead > 0 {
			time.Sleep(interval)
		}
	}
}
