package benchkit

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Observer reads /proc the same way for the daemon and for the baselines, so
// that its own cost and resolution weigh the same on both sides of a ratio.
// It reuses one buffer: a poll allocates almost nothing, which matters while
// it polls every 100 µs for a replacement. It is not safe for concurrent use.
type Observer struct {
	buf  []byte
	kids []int
	exec *ExecWatch // nil: replacements are found by polling
}

// NewObserver returns an Observer with a 64 KiB read buffer.
func NewObserver() *Observer { return &Observer{buf: make([]byte, 0, 64<<10)} }

// WatchExecs has replacements seen through the kernel's exec events
// (ExecWatch) instead of by polling the parent's children; it fails, and
// polling stays, where there are none (not root, no CONFIG_PROC_EVENTS).
func (o *Observer) WatchExecs() error {
	w, err := NewExecWatch()
	if err != nil {
		return err
	}
	o.exec = w
	return nil
}

// WatchesExecs reports whether replacements are seen through exec events.
func (o *Observer) WatchesExecs() bool { return o.exec != nil }

// read reads a whole (small) file into o.buf with raw system calls.
func (o *Observer) read(path string) ([]byte, error) {
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

// Children lists the direct children of pid: the union of
// /proc/PID/task/*/children (a child is listed under the thread that forked
// it). The slice is reused by the next call.
func (o *Observer) Children(pid int) ([]int, error) {
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

// CmdlineIs reports whether pid's argv is want (NUL-separated, NUL-ended, as
// Cmdline renders it). A match means the process has exec'd that program
// and is not a zombie (a zombie's cmdline is empty).
func (o *Observer) CmdlineIs(pid int, want string) bool {
	b, err := o.read("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && string(b) == want
}

// Matching returns the children of parent that run argv want, in a new
// slice.
func (o *Observer) Matching(parent int, want string) ([]int, error) {
	kids, err := o.Children(parent)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range kids {
		if o.CmdlineIs(pid, want) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Cmdline renders an argv as /proc/PID/cmdline shows it.
func Cmdline(argv ...string) string { return strings.Join(argv, "\x00") + "\x00" }

// Replacement SIGKILLs a random child of parent that runs argv want and
// returns the time until a new child of parent runs want, and the pid it
// killed. It polls every interval (keep it small: the targets are
// milliseconds).
func (o *Observer) Replacement(parent int, want string, rng *rand.Rand, interval, timeout time.Duration) (time.Duration, int, error) {
	kids, err := o.Children(parent)
	if err != nil {
		return 0, 0, err
	}
	prior := make(map[int]bool, len(kids))
	for _, pid := range kids {
		prior[pid] = true
	}
	victim := 0
	// CmdlineIs does not touch o.kids: kids stays valid through the loop.
	for _, i := range rng.Perm(len(kids)) {
		if o.CmdlineIs(kids[i], want) {
			victim = kids[i]
			break
		}
	}
	if victim == 0 {
		return 0, 0, fmt.Errorf("no child of %d runs %q", parent, strings.ReplaceAll(want, "\x00", " "))
	}
	return o.replace(parent, victim, want, prior, interval, timeout)
}

// ReplaceVictim SIGKILLs victim, a child of parent that runs argv want, and
// returns the time until a new child of parent runs want. The caller picks
// the victim (say, one that was never replaced, so that a restart delay
// that grows with each restart does not enter the figure).
func (o *Observer) ReplaceVictim(parent, victim int, want string, interval, timeout time.Duration) (time.Duration, error) {
	kids, err := o.Children(parent)
	if err != nil {
		return 0, err
	}
	prior := make(map[int]bool, len(kids))
	for _, pid := range kids {
		prior[pid] = true
	}
	if !prior[victim] || !o.CmdlineIs(victim, want) {
		return 0, fmt.Errorf("%d is not a child of %d that runs %q", victim, parent, strings.ReplaceAll(want, "\x00", " "))
	}
	d, _, err := o.replace(parent, victim, want, prior, interval, timeout)
	return d, err
}

// replace kills victim, a live child of parent just read, and waits for a
// new child that is not in prior to run want.
func (o *Observer) replace(parent, victim int, want string, prior map[int]bool, interval, timeout time.Duration) (time.Duration, int, error) {
	if o.exec != nil {
		o.exec.Drain()
		t0 := Monotonic()
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			return 0, 0, fmt.Errorf("kill %d: %w", victim, err)
		}
		d, err := o.waitExec(parent, want, t0, timeout)
		if err != nil {
			return 0, victim, fmt.Errorf("after killing %d: %w", victim, err)
		}
		return d, victim, nil
	}
	t0 := time.Now()
	// A live process we just read: its pid cannot have been reused since.
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		return 0, 0, fmt.Errorf("kill %d: %w", victim, err)
	}
	d, err := o.WaitNewChild(parent, want, prior, t0, interval, timeout)
	if err != nil {
		return 0, victim, fmt.Errorf("after killing %d: %w", victim, err)
	}
	return d, victim, nil
}

// waitExec waits for the exec of argv want by a child of parent and returns
// its time since t0 (both on the monotonic clock).
func (o *Observer) waitExec(parent int, want string, t0, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		pid, at, err := o.exec.NextExec(time.Until(deadline))
		if err != nil {
			return 0, fmt.Errorf("no new %q child of %d: %w", strings.ReplaceAll(want, "\x00", " "), parent, err)
		}
		if o.parentOf(pid) == parent && o.CmdlineIs(pid, want) {
			return at - t0, nil
		}
	}
}

// WaitNewChild polls every interval until a child of parent that is not in
// prior runs argv want, and returns the time since t0.
func (o *Observer) WaitNewChild(parent int, want string, prior map[int]bool, t0 time.Time, interval, timeout time.Duration) (time.Duration, error) {
	for {
		kids, err := o.Children(parent)
		if err != nil {
			return 0, fmt.Errorf("children of %d: %w", parent, err)
		}
		for _, pid := range kids {
			if !prior[pid] && o.CmdlineIs(pid, want) {
				return time.Since(t0), nil
			}
		}
		if time.Since(t0) > timeout {
			return 0, fmt.Errorf("no new %q child of %d after %v", strings.ReplaceAll(want, "\x00", " "), parent, timeout)
		}
		time.Sleep(interval)
	}
}
