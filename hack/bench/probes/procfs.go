package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The helpers below are small copies of hack/bench/daemon's, so that this
// harness stays self-contained.

// observer reads /proc with one reused buffer: a poll allocates almost
// nothing, which matters while it polls every 100 µs for a replacement.
type observer struct {
	buf  []byte
	kids []int
}

func newObserver() *observer { return &observer{buf: make([]byte, 0, 64<<10)} }

// read reads a whole (small) file into o.buf with raw system calls.
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
// /proc/PID/task/*/children (a child is listed under the thread that forked
// it). The slice is reused by the next call.
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

// cmdlineIs reports whether pid's argv is want (NUL-separated, NUL-ended): it
// has exec'd that program and is not a zombie (a zombie's cmdline is empty).
func (o *observer) cmdlineIs(pid int, want string) bool {
	b, err := o.read("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && string(b) == want
}

// countRunning counts the children of parent that run argv want.
func (o *observer) countRunning(parent int, want string) (int, error) {
	kids, err := o.children(parent)
	if err != nil {
		return 0, err
	}
	pids := append([]int(nil), kids...)
	n := 0
	for _, pid := range pids {
		if o.cmdlineIs(pid, want) {
			n++
		}
	}
	return n, nil
}

// cmdline renders an argv as /proc/PID/cmdline shows it.
func cmdline(argv ...string) string { return strings.Join(argv, "\x00") + "\x00" }

// replacement SIGKILLs a random child of parent that runs argv want and
// returns the time until a new child of parent runs want, polling every
// interval.
func (o *observer) replacement(parent int, want string, rng *rand.Rand, interval, timeout time.Duration) (time.Duration, error) {
	kids, err := o.children(parent)
	if err != nil {
		return 0, err
	}
	kids = append([]int(nil), kids...)
	prior := make(map[int]bool, len(kids))
	for _, pid := range kids {
		prior[pid] = true
	}
	victim := 0
	for _, i := range rng.Perm(len(kids)) {
		if o.cmdlineIs(kids[i], want) {
			victim = kids[i]
			break
		}
	}
	if victim == 0 {
		return 0, fmt.Errorf("no child of %d runs %q", parent, strings.ReplaceAll(want, "\x00", " "))
	}
	t0 := time.Now()
	// A live process we just read: its pid cannot have been reused since.
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill %d: %w", victim, err)
	}
	for {
		kids, err := o.children(parent)
		if err != nil {
			return 0, fmt.Errorf("children of %d: %w", parent, err)
		}
		for _, pid := range kids {
			if !prior[pid] && o.cmdlineIs(pid, want) {
				return time.Since(t0), nil
			}
		}
		if time.Since(t0) > timeout {
			return 0, fmt.Errorf("no new %q child of %d %v after killing %d", strings.ReplaceAll(want, "\x00", " "), parent, timeout, victim)
		}
		time.Sleep(interval)
	}
}

// cpuUse is a process's CPU time over a window, two ways.
type cpuUse struct {
	ticks int64 // utime+stime from /proc/PID/stat, in USER_HZ (100) ticks; counts exited threads too
	ns    int64 // /proc/PID/task/*/schedstat run time, in nanoseconds, summed per thread
}

// cpuReading is one reading of a process's CPU time.
type cpuReading struct {
	ticks   int64
	threads map[string]int64 // tid -> schedstat run time (ns)
}

func readCPU(pid int) (cpuReading, error) {
	t, err := cpuTicks(pid)
	if err != nil {
		return cpuReading{}, err
	}
	return cpuReading{ticks: t, threads: runNanos(pid)}, nil
}

// since returns the CPU time from r0 to r. The schedstat sum is taken per
// thread, so that a thread that exits in between subtracts nothing (its run
// time within the window is lost instead: ticks, which count it, are the
// cross-check); a thread that appears counts from zero.
func (r cpuReading) since(r0 cpuReading) cpuUse {
	u := cpuUse{ticks: r.ticks - r0.ticks}
	for tid, ns := range r.threads {
		u.ns += ns - r0.threads[tid]
	}
	return u
}

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

// runNanos reads the on-CPU time of each of pid's live threads from
// /proc/PID/task/TID/schedstat (first field, nanoseconds).
func runNanos(pid int) map[string]int64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	m := make(map[string]int64, len(tids))
	for _, t := range tids {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			m[t.Name()], _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return m
}

// statusHead is the head of a NAME.status.yaml (the fields before
// conditions), parsed crudely; absent numbers are -1.
type statusHead struct {
	specHash                 string
	replicas, ready, updated int
}

func readStatusHead(path string) (statusHead, bool) {
	s := statusHead{replicas: -1, ready: -1, updated: -1}
	b, err := os.ReadFile(path)
	if err != nil {
		return s, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if t == "conditions:" || t == "instances:" {
			break
		}
		k, v, ok := strings.Cut(t, ": ")
		if !ok {
			continue
		}
		switch k {
		case "specHash":
			s.specHash = v
		case "replicas":
			s.replicas, _ = strconv.Atoi(v)
		case "readyReplicas":
			s.ready, _ = strconv.Atoi(v)
		case "updatedReplicas":
			s.updated, _ = strconv.Atoi(v)
		}
	}
	return s, true
}

// sweep SIGKILLs every process but this one whose environment carries
// tokenEnv=token, and returns how many.
func sweep(token string) int {
	want := []byte(tokenEnv + "=" + token)
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if bytes.Equal(kv, want) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					n++
				}
				break
			}
		}
	}
	return n
}

// durations is a set of samples of one figure.
type durations []time.Duration

func (s durations) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := append(durations(nil), s...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[int(q*float64(len(c)-1)+0.5)]
}

func (s durations) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmtDur(d)
	}
	return strings.Join(parts, " ")
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
