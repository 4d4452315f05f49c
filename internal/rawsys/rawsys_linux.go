package rawsys

import (
	"strings"
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

// Read is read(2) on a non-blocking fd or a cgroup control file, retried on
// EINTR.
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

// Openat is openat(2) of a cgroup control file (kernfs: the open waits for
// no I/O and no other process), retried on EINTR.
func Openat(dirfd int, path string, flags int) (int, error) {
	var buf [256]byte
	p, err := cpath(&buf, path)
	if err != nil {
		return -1, err
	}
	for {
		fd, _, e := unix.RawSyscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(flags), 0, 0, 0)
		if e != unix.EINTR {
			if e != 0 {
				return -1, e
			}
			return int(fd), nil
		}
	}
}

// Rmdirat is unlinkat(2) with AT_REMOVEDIR of a cgroup directory (kernfs:
// it waits for no I/O, at most for the cgroup mutex, held as briefly by
// another cgroup's mkdir or rmdir), retried on EINTR. A daemon that shuts
// down removes one per instance as each exits: through syscall.Syscall each
// took longer than the scheduler monitor's tick.
func Rmdirat(dirfd int, path string) error {
	var buf [256]byte
	p, err := cpath(&buf, path)
	if err != nil {
		return err
	}
	for {
		_, _, e := unix.RawSyscall(unix.SYS_UNLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), unix.AT_REMOVEDIR)
		if e != unix.EINTR {
			return errno(e)
		}
	}
}

// Close is close(2) of a pipe, a pidfd, an epoll fd or a cgroup control
// file opened for reading (nothing that may flush to a disk or a network).
func Close(fd int) error {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	return errno(e)
}

// Kill is kill(2), which never waits: it queues the signal and wakes the
// process. A woken process often takes the CPU there and then, before the
// call returns (the kernel's wake-up preemption); through syscall.Syscall
// the scheduler monitor would count that as a long call, hand the thread's
// P away and wake another thread for it, once per signal of a stop.
func Kill(pid int, sig unix.Signal) error {
	_, _, e := unix.RawSyscall(unix.SYS_KILL, uintptr(pid), uintptr(sig), 0)
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

// cpath returns path NUL-terminated for a system call: a short one in buf,
// the caller's (on its stack: such a call then allocates nothing), a long
// one in a new buffer.
func cpath(buf *[256]byte, path string) (*byte, error) {
	if len(path) < len(buf) && !strings.ContainsRune(path, 0) {
		copy(buf[:], path)
		buf[len(path)] = 0
		return &buf[0], nil
	}
	return unix.BytePtrFromString(path)
}
