package epoll

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/rawsys"
)

// batch is how many ready fds one epoll_wait takes at most.
const batch = 128

// Handler is told that its fd turned readable (or hung up).
type Handler interface {
	// Ready runs on the set's goroutine and must not block. The fd stays
	// disarmed until Rearm.
	Ready()
}

// HangupHandler is a Handler that is told apart when its fd hung up with
// nothing to read (EPOLLHUP without EPOLLIN: a pipe every writer has
// closed, empty), so that it can close the fd without the read that would
// find the end of file. Other Handlers get Ready for it.
type HangupHandler interface {
	Handler
	// HungUp runs instead of Ready, under the same rules.
	HungUp()
}

// Set is an epoll set of fds, each with a Handler. The zero value is ready
// to use; its methods are safe for concurrent use. The epoll fd is made at
// the first Add and lives until Close.
type Set struct {
	mu   sync.Mutex
	ep   int             // the epoll fd, owned by file; valid once file is set
	file *os.File        // ep, non-blocking, registered with the netpoller
	raw  syscall.RawConn // of file
	// The Handlers, in slots: a token is its slot's index + 1 (low 32
	// bits, so that 0 is never one) and the slot's generation (high 32
	// bits), which Forget advances, so that a late event for a forgotten
	// token never reaches the slot's next Handler. Slots rather than a
	// map: there is one per fd watched, thousands, and a slot is a third
	// of a map entry.
	slots   []Handler // nil: free
	gens    []uint32  // each slot's generation
	free    []uint32  // the free slots' indexes
	count   int       // tokens registered
	running bool      // a goroutine runs loop
	closed  bool      // Close was called: Add fails
	loops   sync.WaitGroup
}

// errClosed is Add's error after Close.
var errClosed = errors.New("epoll set closed")

// init makes the epoll set, unless it exists. A failure (e.g. out of fds) is
// not remembered: the next Add tries again. Called with s.mu held.
func (s *Set) init() error {
	if s.file != nil {
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
	file := os.NewFile(uintptr(ep), "epoll")
	raw, err := file.SyscallConn()
	if err != nil { // not reached: an os.File always has one
		file.Close()
		return fmt.Errorf("epoll fd: %w", err)
	}
	s.ep, s.file, s.raw = ep, file, raw
	return nil
}

// Add arms fd in the set and returns its token. From then on h.Ready is
// called once fd is readable, once per arming.
func (s *Set) Add(fd int, h Handler) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	if err := s.init(); err != nil {
		return 0, err
	}
	var i uint32
	if n := len(s.free); n > 0 {
		i = s.free[n-1]
	} else {
		i = uint32(len(s.slots))
	}
	tok := uint64(i) + 1
	if int(i) < len(s.gens) {
		tok |= uint64(s.gens[i]) << 32
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	setToken(&ev, tok)
	if err := unix.EpollCtl(s.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return 0, fmt.Errorf("epoll_ctl add: %w", err)
	}
	if n := len(s.free); n > 0 {
		s.free = s.free[:n-1]
		s.slots[i] = h
	} else {
		s.slots = append(s.slots, h)
		s.gens = append(s.gens, 0)
	}
	s.count++
	if !s.running {
		s.running = true
		s.loops.Add(1)
		go s.loop()
	}
	return tok, nil
}

// Rearm arms fd again after its Ready. The caller owns fd (it is open).
// After Close it fails.
func (s *Set) Rearm(fd int, tok uint64) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT}
	setToken(&ev, tok)
	var err error
	// Through the RawConn, which keeps the epoll fd open meanwhile (Close
	// cannot close it under the call).
	if cerr := s.raw.Control(func(ep uintptr) {
		err = unix.EpollCtl(int(ep), unix.EPOLL_CTL_MOD, fd, &ev)
	}); cerr != nil {
		return fmt.Errorf("epoll_ctl mod: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("epoll_ctl mod: %w", err)
	}
	return nil
}

// Close ends the set: it closes the epoll fd, which ends the set's
// goroutine if one runs, and waits for that goroutine to return. Call it
// once the set is no longer needed: the fds still in it get no more Ready,
// and Add and Rearm fail from then on (Drain does nothing). Close is
// idempotent.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	file := s.file
	s.mu.Unlock()
	var err error
	if file != nil {
		// A Drain or Rearm under way keeps the fd open until it returns.
		if err = file.Close(); err != nil {
			err = fmt.Errorf("close epoll set: %w", err)
		}
	}
	s.loops.Wait()
	return err
}

// Forget drops a token: no event taken from now on reaches its Handler (one
// taken just before may still call Ready once: see the package
// documentation). Forget before closing the fd.
func (s *Set) Forget(tok uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.slot(tok)
	if !ok {
		return // forgotten already
	}
	s.slots[i] = nil
	s.gens[i]++
	s.free = append(s.free, i)
	s.count--
}

// slot returns the index of tok's slot, if tok is registered. Called with
// s.mu held.
func (s *Set) slot(tok uint64) (uint32, bool) {
	i := uint32(tok) - 1
	if uint64(i) >= uint64(len(s.slots)) || s.gens[i] != uint32(tok>>32) || s.slots[i] == nil {
		return 0, false
	}
	return i, true
}

// Len returns the number of tokens registered.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// loop takes readiness until no token is registered, or Close.
func (s *Set) loop() {
	defer s.loops.Done()
	events := make([]unix.EpollEvent, batch)
	err := s.raw.Read(func(uintptr) bool {
		s.drainInto(events)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.count == 0 {
			s.running = false
			return true // done: the next Add starts a new loop
		}
		return false // wait in the netpoller for the next event
	})
	if err != nil { // Close closed the epoll fd
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}
}

// Drain calls the Handlers of the fds that are ready, if any, without
// waiting. Safe to call alongside the set's goroutine: an event goes to one
// caller.
func (s *Set) Drain() {
	s.mu.Lock()
	raw := s.raw
	s.mu.Unlock()
	if raw != nil {
		// Through the RawConn, which keeps the epoll fd open meanwhile; after
		// Close it calls nothing.
		_ = raw.Control(func(uintptr) { s.drainInto(make([]unix.EpollEvent, batch)) })
	}
}

// drainInto takes ready events with epoll_wait(0) until none is left.
func (s *Set) drainInto(events []unix.EpollEvent) {
	for {
		n, err := rawsys.EpollPoll(s.ep, events)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // not expected on a valid epoll fd: wait for the next wake-up
		}
		for i := range n {
			s.mu.Lock()
			var h Handler
			if j, ok := s.slot(token(&events[i])); ok {
				h = s.slots[j]
			}
			s.mu.Unlock()
			if h == nil {
				continue
			}
			if hu, ok := h.(HangupHandler); ok && events[i].Events&(unix.EPOLLHUP|unix.EPOLLIN) == unix.EPOLLHUP {
				hu.HungUp()
				continue
			}
			h.Ready()
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
