package rawsys

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestReadAndClose(t *testing.T) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	b := make([]byte, 16)
	if _, err := Read(fds[0], b); !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("Read of an empty pipe: %v; want EAGAIN", err)
	}
	if _, err := unix.Write(fds[1], []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if n, err := Read(fds[0], b); err != nil || string(b[:n]) != "hello" {
		t.Fatalf("Read = %q, %v; want hello", b[:n], err)
	}
	if err := Close(fds[0]); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := Close(fds[0]); !errors.Is(err, unix.EBADF) {
		t.Fatalf("second Close: %v; want EBADF", err)
	}
}

func TestEpollPoll(t *testing.T) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fds[0])}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fds[0], &ev); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	if n, err := EpollPoll(ep, events); n != 0 || err != nil {
		t.Fatalf("EpollPoll with nothing ready = %d, %v", n, err)
	}
	if _, err := unix.Write(fds[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := EpollPoll(ep, events); n != 1 || err != nil || events[0].Fd != int32(fds[0]) {
		t.Fatalf("EpollPoll = %d, %v (%+v); want the pipe", n, err, events[0])
	}
}

// Waitid observes an exit without reaping (WNOWAIT), then reaps; with
// nothing exited yet and WNOHANG it returns at once.
func TestWaitid(t *testing.T) {
	cmd := exec.Command("sh", "-c", "read x; exit 7")
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(pidfd)
	var info unix.Siginfo
	if err := Waitid(pidfd, unsafe.Pointer(&info), unix.WEXITED|unix.WNOHANG|unix.WNOWAIT); err != nil {
		t.Fatalf("Waitid while running: %v", err)
	}
	w.Close() // sh exits 7
	// Without WNOHANG it waits (through the scheduler-aware call).
	if err := Waitid(pidfd, unsafe.Pointer(&info), unix.WEXITED|unix.WNOWAIT); err != nil {
		t.Fatalf("Waitid waiting: %v", err)
	}
	if err := Waitid(pidfd, unsafe.Pointer(&info), unix.WEXITED|unix.WNOHANG); err != nil {
		t.Fatalf("Waitid reaping: %v", err)
	}
	if err := Waitid(pidfd, unsafe.Pointer(&info), unix.WEXITED|unix.WNOHANG); !errors.Is(err, unix.ECHILD) {
		t.Fatalf("Waitid after the reap: %v; want ECHILD", err)
	}
}

// Kill signals a process group, and names ESRCH once nobody is left in it.
func TestKill(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	if err := Kill(-pgid, unix.SIGTERM); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("Kill: %v", err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("sleep ended with %v; want killed by SIGTERM", err)
	}
	if err := Kill(-pgid, unix.SIGTERM); !errors.Is(err, unix.ESRCH) {
		t.Fatalf("Kill of an empty group: %v; want ESRCH", err)
	}
}

// Openat opens relative to a directory fd, short and long paths alike, and
// returns the errno of a failure.
func TestOpenat(t *testing.T) {
	dir, err := unix.Open("/proc/self", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dir)
	long := strings.Repeat("./", 200) + "stat" // past the stack copy
	for _, p := range []string{"stat", long} {
		fd, err := Openat(dir, p, unix.O_RDONLY|unix.O_CLOEXEC)
		if err != nil {
			t.Fatalf("Openat %d bytes: %v", len(p), err)
		}
		var b [64]byte
		n, err := Read(fd, b[:])
		Close(fd)
		if err != nil || n == 0 {
			t.Fatalf("read after Openat %d bytes: %d, %v", len(p), n, err)
		}
	}
	if _, err := Openat(dir, "absent", unix.O_RDONLY); err != unix.ENOENT {
		t.Fatalf("Openat of a missing file: %v; want ENOENT", err)
	}
}

// Rmdirat removes an empty directory relative to a directory fd, and
// returns the errno of a failure (a directory with an entry, a missing one).
func TestRmdirat(t *testing.T) {
	root := t.TempDir()
	dirfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	for _, d := range []string{"empty", "full", "full/x"} {
		if err := unix.Mkdir(root+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := Rmdirat(dirfd, "full"); err != unix.ENOTEMPTY && err != unix.EEXIST {
		t.Fatalf("Rmdirat of a directory with an entry: %v; want ENOTEMPTY", err)
	}
	if err := Rmdirat(dirfd, "empty"); err != nil {
		t.Fatalf("Rmdirat: %v", err)
	}
	if err := Rmdirat(dirfd, "empty"); err != unix.ENOENT {
		t.Fatalf("Rmdirat of a missing directory: %v; want ENOENT", err)
	}
}
