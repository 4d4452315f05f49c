package main

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/hack/bench/internal/benchkit"
)

// The waits of figures a, b and d, over the shared /proc observer.

// waitRunning polls the children of parent every interval until n of them run
// argv want, and returns the time since t0. extra, if set, is polled in the
// same loop and must also report done (it gets the time since t0 to record).
func waitRunning(o *benchkit.Observer, parent int, want string, n int, t0 time.Time, interval, timeout time.Duration, extra func(time.Duration) bool) (time.Duration, error) {
	confirmed := make(map[int]bool, n)
	var running time.Duration
	extraDone := extra == nil
	for {
		if running == 0 {
			kids, err := o.Children(parent)
			if err != nil {
				return 0, fmt.Errorf("children of %d: %w", parent, err)
			}
			count := 0
			for _, pid := range kids {
				if confirmed[pid] || o.CmdlineIs(pid, want) {
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
func left(o *benchkit.Observer, parent int, tracked map[int]bool) int {
	kids, err := o.Children(parent)
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
func waitStopped(o *benchkit.Observer, w *deathWatch, parent int, t0 time.Time, interval, timeout time.Duration) (stopTimes, error) {
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
		if parent > 0 && st.reaped == 0 && left(o, parent, tracked) == 0 && left(o, parent, tracked) == 0 {
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

// waitGone waits until pid is no longer a child of parent (reaped).
func waitGone(o *benchkit.Observer, parent, pid int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		kids, err := o.Children(parent)
		if err != nil {
			return
		}
		found := false
		for _, k := range kids {
			found = found || k == pid
		}
		if !found {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}
