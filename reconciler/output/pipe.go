package output

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Pipe returns a pipe for a child's output and its pump: the read end is
// non-blocking and registered with the netpoller, as Group.Start needs it,
// and the write end, the child's, stays blocking and unregistered. Both are
// close-on-exec.
//
// os.Pipe makes both ends non-blocking and registers both, and handing the
// write end to a child (File.Fd) then makes it blocking again: that costs
// five fcntl(2) and two epoll_ctl(2) more per pipe, for nothing.
func Pipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	// Only the read end's file description becomes non-blocking: the two
	// ends of a pipe have one each.
	if _, err := unix.FcntlInt(uintptr(fds[0]), unix.F_SETFL, unix.O_NONBLOCK); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	// NewFile sees O_NONBLOCK on the read end and registers it with the
	// netpoller; the blocking write end it leaves alone.
	return os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1"), nil
}
