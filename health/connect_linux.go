package health

import (
	"context"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// connect opens a TCP connection to ap and drops it at once with a reset
// (see closeReset): the whole of a tcpSocket probe to an IP address. The
// socket comes from sockets, and goes back there after a success (see
// Sockets); a nil sockets means a fresh socket each time.
//
// It is net.Dialer's work minus what a probe does not need, because at 1000
// probes a second the system calls are most of the daemon's CPU. A
// non-blocking connect(2) to a local listener has completed the handshake by
// the time it returns (the SYN, SYN-ACK and ACK are all processed in the
// caller's softirq, the last ones when connect releases the socket), so one
// poll(2) with a zero timeout usually tells the result. That saves what
// net.Dialer always does: epoll_ctl add and delete, parking the goroutine
// until the netpoller reports the socket writable, TCP_NODELAY, getpeername
// and getsockname. Only a handshake still in flight (a remote or busy host)
// waits in the netpoller, through an os.File.
//
// The returned error is a *os.SyscallError ("connect: connection refused"),
// os.ErrDeadlineExceeded or ctx's error.
func connect(ctx context.Context, ap netip.AddrPort, sockets *Sockets) error {
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ap.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()} // no zone: see newTCP
	}
	fd := sockets.get(family)
	if fd < 0 {
		var err error
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return os.NewSyscallError("socket", err)
		}
	}
	switch err := unix.Connect(fd, sa); err {
	case nil:
		sockets.release(family, fd)
		return nil
	case unix.EINPROGRESS, unix.EINTR:
	default:
		unix.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	done, err := connected(fd)
	switch {
	case !done:
		return waitConnected(ctx, fd)
	case err == nil:
		sockets.release(family, fd)
	default:
		closeFdReset(fd)
	}
	return err
}

// connected reports whether the non-blocking connect on fd has finished, and
// if so with what error. Success shows as POLLOUT alone; only an error costs
// a getsockopt(2) to learn which.
func connected(fd int) (bool, error) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd, 0)
	if err == unix.EINTR || (err == nil && n == 0) {
		return false, nil
	}
	if err != nil {
		return true, os.NewSyscallError("poll", err)
	}
	if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) == 0 {
		return true, nil
	}
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return true, os.NewSyscallError("getsockopt", err)
	}
	if soErr != 0 {
		return true, os.NewSyscallError("connect", unix.Errno(soErr))
	}
	return true, nil
}

// waitConnected waits in the netpoller until the connect on fd finishes or
// ctx ends, then closes fd.
func waitConnected(ctx context.Context, fd int) error {
	f := os.NewFile(uintptr(fd), "tcp probe") // non-blocking: registered with the netpoller
	defer func() {
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(setLingerZero)
		}
		f.Close()
	}()
	if deadline, ok := ctx.Deadline(); ok {
		_ = f.SetWriteDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	werr := rc.Write(func(fd uintptr) bool {
		var done bool
		done, cerr = connected(int(fd))
		return done
	})
	if werr != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return werr
	}
	return cerr
}

// closeFdReset closes fd with SO_LINGER 0 (see closeReset).
func closeFdReset(fd int) {
	setLingerZero(uintptr(fd))
	unix.Close(fd)
}

func setLingerZero(fd uintptr) {
	_ = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}
