package output

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pipe returns a pipe for a child's output: the read end, for Group.Start,
// as a bare non-blocking fd, and the child's write end, blocking, as an
// *os.File to hand to the child. Both are close-on-exec.
//
// os.Pipe makes both ends non-blocking and registers both with the runtime's
// netpoller, and handing the write end to a child (File.Fd) then makes it
// blocking again: five fcntl(2) and two epoll_ctl(2) more per pipe, and an
// os.File with a finalizer for a read end that the pump reads through its
// own epoll set (see package epoll).
func Pipe() (r int, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return -1, nil, fmt.Errorf("pipe: %w", err)
	}
	// Only the read end's file description becomes non-blocking: the two
	// ends of a pipe have one each.
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return -1, nil, fmt.Errorf("pipe: %w", err)
	}
	return fds[0], os.NewFile(uintptr(fds[1]), "|1"), nil
}
