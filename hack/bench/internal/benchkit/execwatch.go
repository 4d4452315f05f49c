package benchkit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// ExecWatch hears of every exec on the machine as it happens, through the
// kernel's process events connector (netlink NETLINK_CONNECTOR, group
// CN_IDX_PROC; root only, and a kernel with CONFIG_PROC_EVENTS), with the
// kernel's CLOCK_MONOTONIC time of each. A replacement is then seen the
// moment its process execs, at any N: listing the children of a parent of
// 5000 costs milliseconds a poll, and the poller competes for the CPU with
// what it measures.
type ExecWatch struct {
	fd  int
	buf []byte
}

// Layout of a connector message (linux/netlink.h, connector.h, cn_proc.h).
const (
	nlmsgHdrLen   = 16
	cnMsgLen      = 20
	cnIdxProc     = 1
	cnValProc     = 1
	procCNListen  = 1
	procEventExec = 2
	// Offsets in a received message: proc_event.what, .timestamp_ns and
	// .event_data.exec.process_tgid.
	offWhat = nlmsgHdrLen + cnMsgLen
	offTime = offWhat + 8
	offTgid = offWhat + 20
)

// NewExecWatch subscribes to the process events. It fails when the kernel
// has none or the caller may not listen (not root).
func NewExecWatch() (*ExecWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("netlink connector: %w", err)
	}
	w := &ExecWatch{fd: fd, buf: make([]byte, 4096)}
	if err := w.subscribe(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return w, nil
}

func (w *ExecWatch) subscribe() error {
	// Every fork, exec and exit on the machine comes in, and a start of
	// thousands queues thousands while nobody reads: a buffer past
	// rmem_max (root may) keeps the queue from overflowing in between.
	if err := unix.SetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
		_ = unix.SetsockoptInt(w.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<20)
	}
	if err := unix.Bind(w.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc, Pid: uint32(os.Getpid())}); err != nil {
		return fmt.Errorf("bind the process events connector: %w", err)
	}
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	ne.PutUint32(msg[12:], uint32(os.Getpid()))
	ne.PutUint32(msg[nlmsgHdrLen:], cnIdxProc)
	ne.PutUint32(msg[nlmsgHdrLen+4:], cnValProc)
	ne.PutUint16(msg[nlmsgHdrLen+16:], 4)
	ne.PutUint32(msg[nlmsgHdrLen+cnMsgLen:], procCNListen)
	if err := unix.Sendto(w.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("listen to process events: %w", err)
	}
	// The kernel answers the subscription with an event of its own; a
	// kernel without process events never does.
	if _, _, err := w.next(time.Second, false); err != nil {
		return fmt.Errorf("no process events from this kernel: %w", err)
	}
	return nil
}

// Close ends the subscription.
func (w *ExecWatch) Close() error { return unix.Close(w.fd) }

// Drain discards the events that have arrived, and the news that some
// were lost (ENOBUFS) while nobody read.
func (w *ExecWatch) Drain() {
	for {
		_, _, err := unix.Recvfrom(w.fd, w.buf, unix.MSG_DONTWAIT)
		if err != nil && !errors.Is(err, unix.ENOBUFS) && !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// NextExec returns the process (tgid) of the next exec and the kernel's
// monotonic time of it, waiting at most timeout.
func (w *ExecWatch) NextExec(timeout time.Duration) (pid int, at time.Duration, err error) {
	return w.next(timeout, true)
}

func (w *ExecWatch) next(timeout time.Duration, execOnly bool) (int, time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return 0, 0, errors.New("timed out")
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(w.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return 0, 0, err
		}
		n, _, err := unix.Recvfrom(w.fd, w.buf, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return 0, 0, errors.New("timed out")
		case errors.Is(err, unix.ENOBUFS):
			return 0, 0, errors.New("process events were lost (the socket's buffer overflowed)")
		case err != nil:
			return 0, 0, err
		case n < offTgid+4:
			continue
		}
		ne := binary.NativeEndian
		if execOnly && ne.Uint32(w.buf[offWhat:]) != procEventExec {
			continue
		}
		return int(ne.Uint32(w.buf[offTgid:])), time.Duration(ne.Uint64(w.buf[offTime:])), nil
	}
}

// Monotonic is the time on the clock of the events (CLOCK_MONOTONIC).
func Monotonic() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return time.Duration(ts.Nano())
}

// parentOf returns the parent pid of pid from /proc/PID/stat (0 if gone).
func (o *Observer) parentOf(pid int) int {
	b, err := o.read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+4 > len(b) {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(string(f[1]))
	return ppid
}
