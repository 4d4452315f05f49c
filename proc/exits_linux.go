package proc

import (
	"fmt"

	"github.com/reconciled/reconciled/internal/epoll"
)

// exitWatcher observes the exits of a Starter's leaders through their
// pidfds, in one epoll set with at most one goroutine for all of them (see
// package epoll for why and how).
//
// Each pidfd is in the set with a token that names its Process; a pidfd
// turns readable once, when its process exits. The set's goroutine then
// checks the process with waitid(WNOWAIT) (Process.check), which observes
// the exit and runs the process's OnExit callbacks (see Process.finish). A
// pidfd that woke without an exit is armed again. The kernel removes a
// pidfd from the set when it is closed, so Release only closes it; the token
// is forgotten when the exit is observed, so a late event for it is ignored.
//
// Safety net. The reaper (Starter.Run) also drains the set on every SIGCHLD,
// which the kernel sends with every leader's exit: on a kernel that loses a
// wake-up of a nested epoll set, an exit still waits no longer than the next
// SIGCHLD, and no timer runs while nothing happens.
type exitWatcher struct {
	set epoll.Set
}

// watch adds p's pidfd to the set. From then on p.finish runs once p exits.
func (w *exitWatcher) watch(p *Process) error {
	// p.token is read by check, on the set's goroutine, under p.mu; a
	// pidfd fires only once its process exits, and check takes p.mu first.
	p.mu.Lock()
	defer p.mu.Unlock()
	tok, err := w.set.Add(p.pidfd, (*processReady)(p))
	if err != nil {
		return fmt.Errorf("watch pidfd: %w", err)
	}
	p.token = tok
	return nil
}

// close closes the epoll set and ends its goroutine (see Starter.Close).
func (w *exitWatcher) close() error { return w.set.Close() }

// forget drops the token of a process whose exit has been observed.
func (w *exitWatcher) forget(tok uint64) { w.set.Forget(tok) }

// rearm arms p's pidfd again after a wake-up without an exit. Called with
// p.mu read-locked (the pidfd is open).
func (w *exitWatcher) rearm(p *Process) {
	if err := w.set.Rearm(p.pidfd, p.token); err != nil {
		p.finish(ExitStatus{}, fmt.Errorf("wait %s (pid %d): watch pidfd: %w", p.name, p.pid, err))
	}
}

// drain checks the processes whose pidfds are ready, if any, without
// waiting.
func (w *exitWatcher) drain() { w.set.Drain() }

// processReady is a Process as the set's Handler: a pointer, which an
// interface holds without an allocation of its own. Its watcher is its
// Starter's.
type processReady Process

func (r *processReady) Ready() {
	p := (*Process)(r)
	p.check(&p.starter.exits)
}
