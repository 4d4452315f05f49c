package proc

import (
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// exitBatch is how many ready pidfds one epoll_wait takes at most.
const exitBatch = 128

// exitWatcher observes the exits of a Starter's leaders through their
// pidfds, with one epoll instance and at most one goroutine for all of them.
//
// Why. Parking a goroutine per process on an *os.File of its pidfd costs, per
// instance, an os.File (a finalizer, and a registration with the runtime's
// netpoller that closing removes again with epoll_ctl) and a parked
// goroutine whose stack every garbage collection scans: at 1000 instances,
// 1000 goroutines, and a part of the CPU of starting and stopping them.
//
// How. Each pidfd is added to the watcher's epoll set with EPOLLIN and
// EPOLLONESHOT (a pidfd turns readable once, when the process exits) and a
// token that names its Process. The epoll fd is itself pollable, so the
// watcher's goroutine waits for it in the netpoller without holding a thread.
// When it wakes it takes the ready tokens with epoll_wait(0) and checks each
// process with waitid(WNOWAIT) (Process.poll), which observes the exit and
// runs the process's OnExit callbacks (see Process.finish). A pidfd that
// woke without an exit is armed again. The kernel removes a pidfd from the
// set when it is closed, so Release only closes it; a token is forgotten
// when the exit is observed, so a late event for it is ignored.
//
// Safety net. The reaper (Starter.Run) also drains the set on every SIGCHLD,
// which the kernel sends with every leader's exit: on a kernel that loses a
// wake-up of a nested epoll set, an exit still waits no longer than the next
// SIGCHLD, and no timer runs while nothing happens.
//
// Lifetime. The goroutine runs while processes are watched; it ends when a
// wake-up finds none left (the next watch starts a new one).
type exitWatcher struct {
	mu      sync.Mutex
	ep      int                 // the epoll fd, owned by file; valid once file is set
	file    *os.File            // ep, non-blocking, registered with the netpoller
	raw     syscall.RawConn     // of file
	procs   map[uint64]*Process // by token
	next    uint64              // the last token given
	running bool                // a goroutine runs loop
}

// init makes the epoll set, unless it exists. A failure (e.g. out of fds) is
// not remembered: the next watch tries again. Called with w.mu held.
func (w *exitWatcher) init() error {
	if w.file != nil {
		return nil
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return fmt.Errorf("epoll fd: %w", err)
	}
	file := os.NewFile(uintptr(ep), "exits")
	raw, err := file.SyscallConn()
	if err != nil { // not reached: an os.File always has one
		file.Close()
		return fmt.Errorf("epoll fd: %w", err)
	}
	w.ep, w.file, w.raw = ep, file, raw
	w.procs = make(map[uint64]*Process)
	return nil
}

// watch adds p's pidfd to the set. From then on p.finish runs once p exits.
func (w *exitWatcher) watch(p *Process) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.init(); err != nil {
		return err
	}
	w.next++
	tok := w.next
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	setToken(&ev, tok)
	if err := unix.EpollCtl(w.ep, unix.EPOLL_CTL_ADD, p.pidfd, &ev); err != nil {
		return fmt.Errorf("watch pidfd: %w", err)
	}
	p.token = tok
	w.procs[tok] = p
	if !w.running {
		w.running = true
		go w.loop()
	}
	return nil
}

// forget drops the token of a process whose exit has been observed.
func (w *exitWatcher) forget(tok uint64) {
	w.mu.Lock()
	delete(w.procs, tok)
	w.mu.Unlock()
}

// rearm arms p's pidfd again after a wake-up without an exit. Called with
// p.mu read-locked (the pidfd is open).
func (w *exitWatcher) rearm(p *Process) {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	setToken(&ev, p.token)
	if err := unix.EpollCtl(w.ep, unix.EPOLL_CTL_MOD, p.pidfd, &ev); err != nil {
		p.finish(ExitStatus{}, fmt.Errorf("wait %s (pid %d): watch pidfd: %w", p.name, p.pid, err))
	}
}

// loop takes exits until no process is watched.
func (w *exitWatcher) loop() {
	events := make([]unix.EpollEvent, exitBatch)
	err := w.raw.Read(func(uintptr) bool {
		w.drainInto(events)
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.procs) == 0 {
			w.running = false
			return true // done: the next watch starts a new loop
		}
		return false // wait in the netpoller for the next exit
	})
	if err != nil { // not reached: the epoll fd is never closed
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}
}

// drain checks the processes whose pidfds are ready, if any, without
// waiting. Safe to call alongside loop: an event goes to one caller.
func (w *exitWatcher) drain() {
	w.mu.Lock()
	ready := w.file != nil
	w.mu.Unlock()
	if ready {
		w.drainInto(make([]unix.EpollEvent, exitBatch))
	}
}

// drainInto takes ready events with epoll_wait(0) until none is left.
func (w *exitWatcher) drainInto(events []unix.EpollEvent) {
	for {
		n, err := unix.EpollWait(w.ep, events, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // not expected on a valid epoll fd: wait for the next wake-up
		}
		for i := range n {
			w.mu.Lock()
			p := w.procs[token(&events[i])]
			w.mu.Unlock()
			if p != nil {
				p.check(w)
			}
		}
		if n < len(events) {
			return
		}
	}
}

// setToken and token keep a token in the 64 bits of an event's data (the
// Fd and Pad fields of unix.EpollEvent).
func setToken(ev *unix.EpollEvent, tok uint64) {
	ev.Fd, ev.Pad = int32(uint32(tok)), int32(uint32(tok>>32))
}

func token(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
