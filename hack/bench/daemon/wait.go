package main

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
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
// have all exited, and all been reaped, through pidfds in an epoll set: no
// polling of /proc. A pidfd turns readable (EPOLLIN) when its process exits
// and, on kernels that wake pidfd pollers at the reap too (see
// reapEventsWork), reports EPOLLHUP once the process has been reaped: after
// the exit the watch re-arms the fd for EPOLLHUP alone.
type deathWatch struct {
	ep       int
	fds      map[int32]bool // pidfd -> exited already
	pids     []int
	alive    int // not yet exited
	unreaped int // not yet reaped (counted only with reapEvents)
	reap     bool
}

// newDeathWatch opens a pidfd for each pid; call it before the stop starts.
// With reap set, it also follows the reaps (reapEventsWork must be true).
func newDeathWatch(pids []int, reap bool) (*deathWatch, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	w := &deathWatch{ep: ep, fds: make(map[int32]bool, len(pids)), pids: pids, reap: reap}
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
		w.fds[int32(fd)] = false
		w.alive++
		if reap {
			w.unreaped++
		}
	}
	return w, nil
}

// wait waits up to d for exits (and reaps) and returns how many of the
// processes are still alive and, when reaps are followed, how many are
// still unreaped.
func (w *deathWatch) wait(d time.Duration) (alive, unreaped int) {
	if len(w.fds) == 0 {
		return w.alive, w.unreaped
	}
	var evs [256]unix.EpollEvent
	ms := int(d / time.Millisecond)
	if ms < 1 {
		ms = 1
	}
	n, err := unix.EpollWait(w.ep, evs[:], ms)
	if err != nil {
		return w.alive, w.unreaped // EINTR: try again
	}
	for _, ev := range evs[:n] {
		exited, ok := w.fds[ev.Fd]
		if !ok {
			continue
		}
		if !exited {
			w.fds[ev.Fd] = true
			w.alive--
		}
		if !w.reap || ev.Events&unix.EPOLLHUP != 0 {
			if w.reap {
				w.unreaped--
			}
			_ = unix.EpollCtl(w.ep, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
			unix.Close(int(ev.Fd))
			delete(w.fds, ev.Fd)
			continue
		}
		// Exited, not reaped yet: wait for the hang-up alone.
		_ = unix.EpollCtl(w.ep, unix.EPOLL_CTL_MOD, int(ev.Fd), &unix.EpollEvent{Fd: ev.Fd})
	}
	return w.alive, w.unreaped
}

func (w *deathWatch) close() {
	for fd := range w.fds {
		unix.Close(int(fd))
	}
	w.fds = nil
	unix.Close(w.ep)
}

// reapEventsWork reports whether this kernel wakes a pidfd's pollers when
// its process is reaped (EPOLLHUP), which recent kernels do: it starts a
// child, SIGTERMs it, re-arms its pidfd for EPOLLHUP alone after the exit,
// reaps it and waits up to a second for the hang-up. env is the child's
// environment.
func reapEventsWork(env []string) (bool, error) {
	cmd := exec.Command("/usr/bin/sleep", "1000")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		return false, err
	}
	w, err := newDeathWatch([]int{cmd.Process.Pid}, true)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return false, err
	}
	defer w.close()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(time.Second)
	for alive, _ := w.wait(time.Second); alive > 0; alive, _ = w.wait(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return false, errors.New("the probe child did not exit")
		}
	}
	_ = cmd.Wait() // the reap
	for deadline = time.Now().Add(time.Second); time.Now().Before(deadline); {
		if _, unreaped := w.wait(100 * time.Millisecond); unreaped == 0 {
			return true, nil
		}
	}
	return false, nil
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
// none of them is left among parent's children (all reaped). When w follows
// reaps, their hang-ups tell it; otherwise it lists parent's children every
// interval once all have exited.
func waitStopped(o *benchkit.Observer, w *deathWatch, parent int, t0 time.Time, interval, timeout time.Duration) (stopTimes, error) {
	var st stopTimes
	tracked := make(map[int]bool, len(w.pids))
	for _, p := range w.pids {
		tracked[p] = true
	}
	for {
		alive, unreaped := w.wait(interval)
		if st.dead == 0 && alive == 0 {
			st.dead = time.Since(t0)
		}
		if parent > 0 && st.reaped == 0 {
			switch {
			case w.reap:
				if unreaped == 0 {
					st.reaped = time.Since(t0)
				}
			case st.dead > 0:
				// The children files are not a snapshot: a listing taken
				// while another child is reaped can skip an entry, so
				// "none left" needs two listings in a row that agree.
				if left(o, parent, tracked) == 0 && left(o, parent, tracked) == 0 {
					st.reaped = time.Since(t0)
				}
			}
		}
		if st.dead > 0 && (parent <= 0 || st.reaped > 0) {
			if st.reaped > 0 && st.reaped < st.dead {
				st.reaped = st.dead // seen gone from the list before the epoll said so
			}
			return st, nil
		}
		if time.Since(t0) > timeout {
			return st, fmt.Errorf("timed out after %v: %d of %d still alive, %d unreaped", timeout, alive, len(w.pids), unreaped)
		}
		if st.dead > 0 && !w.reap {
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
