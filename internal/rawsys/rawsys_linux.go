package rawsys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// errno turns a raw call's errno into an error, nil for 0.
func errno(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Read is read(2) on a non-blocking fd, retried on EINTR.
func Read(fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(p), uintptr(len(b)))
		if e != unix.EINTR {
			if e != 0 {
				return 0, e
			}
			return int(n), nil
		}
	}
}

// Close is close(2) of a pipe, a pidfd or an epoll fd (nothing that may
// flush to a disk or a network).
func Close(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return errno(e)
}

// Waitid is waitid(P_PIDFD, pidfd, info, options, NULL), retried on EINTR;
// info points to a siginfo_t. Only with WNOHANG is it raw: without, it may
// wait, and goes through unix.Waitid.
func Waitid(pidfd int, info unsafe.Pointer, options int) error {
	for {
		var err error
		if options&unix.WNOHANG != 0 {
			_, _, e := unix.RawSyscall6(unix.SYS_WAITID, unix.P_PIDFD, uintptr(pidfd), uintptr(info), uintptr(options), 0, 0)
			err = errno(e)
		} else {
			err = unix.Waitid(unix.P_PIDFD, pidfd, (*unix.Siginfo)(info), options, nil)
		}
		if err != unix.EINTR {
			return err
		}
	}
}

// EpollPoll is epoll_wait(ep, events, 0): it takes the ready events without
// waiting. It calls epoll_pwait with no signal mask, which is the same call
// and, unlike epoll_wait, exists on every architecture (arm64 has no
// epoll_wait).
func EpollPoll(ep int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
