package health

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxIdleSockets bounds the idle sockets a Sockets keeps per address family.
// Probes due in one slot run one after another on loopback, so a few are
// enough; the rest are closed.
const maxIdleSockets = 32

// Sockets lends tcpSocket probes TCP sockets to reuse, so that a probe costs
// connect(2), poll(2) and a disconnect instead of socket(2), connect(2),
// poll(2), getsockopt(2), setsockopt(2) and close(2).
//
// A probe disconnects its socket with connect(2) to an AF_UNSPEC address: on
// an established TCP socket Linux then sends a reset (as closing with
// SO_LINGER 0 does, so that no TIME_WAIT socket is left), returns the socket
// to the closed state, unbound, and a later connect(2) starts afresh from a
// new local port. Only sockets whose connect succeeded and whose disconnect
// succeeded come back; any other is closed with a reset. On loopback this
// costs the kernel less than a fresh socket per probe (see
// hack/bench/README.md).
//
// The zero value is not usable; make one with NewSockets. A nil *Sockets
// lends nothing: every probe opens and closes a socket of its own. Sockets is
// safe for concurrent use.
type Sockets struct {
	mu     sync.Mutex
	idle   map[int][]int // address family -> idle sockets
	closed bool
}

// NewSockets returns an empty Sockets. Close it when no probe uses it any
// more.
func NewSockets() *Sockets {
	return &Sockets{idle: make(map[int][]int)}
}

// get returns an idle socket of family, or -1.
func (s *Sockets) get(family int) int {
	if s == nil {
		return -1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fds := s.idle[family]
	if len(fds) == 0 {
		return -1
	}
	fd := fds[len(fds)-1]
	s.idle[family] = fds[:len(fds)-1]
	return fd
}

// release disconnects fd, whose connect succeeded, and keeps it for the next
// probe; fd is closed with a reset instead when that fails, when s is nil or
// closed, or when enough sockets are idle.
func (s *Sockets) release(family, fd int) {
	if s == nil || disconnect(fd) != nil {
		closeFdReset(fd)
		return
	}
	s.mu.Lock()
	if !s.closed && len(s.idle[family]) < maxIdleSockets {
		s.idle[family] = append(s.idle[family], fd)
		fd = -1
	}
	s.mu.Unlock()
	if fd >= 0 {
		unix.Close(fd) // disconnected already: nothing left to reset
	}
}

// Close closes the idle sockets; sockets released later are closed at once.
func (s *Sockets) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for family, fds := range s.idle {
		for _, fd := range fds {
			unix.Close(fd)
		}
		delete(s.idle, family)
	}
	return nil
}

// idleCount returns how many sockets s keeps (for tests).
func (s *Sockets) idleCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, fds := range s.idle {
		n += len(fds)
	}
	return n
}

// disconnect dissolves fd's connection with connect(2) to AF_UNSPEC (see
// Sockets). x/sys/unix has no Sockaddr for AF_UNSPEC, hence the raw call.
func disconnect(fd int) error {
	sa := unix.RawSockaddr{Family: unix.AF_UNSPEC}
	for {
		_, _, errno := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		default:
			return errno
		}
	}
}
