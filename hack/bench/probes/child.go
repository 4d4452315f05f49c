package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The harness re-executes its own binary for the two helper processes below,
// so that their CPU is counted neither in the daemon's nor in the harness's.

// runListener is the -mode listener child. It opens two listeners on
// 127.0.0.1:
//
//   - fast: accepts and closes each connection at once, and counts them; the
//     bench program's tcpSocket probes and the floor connect here;
//   - silent: accepts, never answers, and reads until the client gives up;
//     the slow program's httpGet probes time out here.
//
// It prints "ports FAST SILENT", then answers each "count" line on stdin with
// "count FAST_ACCEPTED SILENT_ACCEPTED", and exits when stdin closes.
func runListener() error {
	fd, port, err := listenBlocking()
	if err != nil {
		return err
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var fast, slow atomic.Int64
	errc := make(chan error, 2)
	go func() { errc <- acceptFast(fd, &fast) }()
	go func() { errc <- acceptSilent(silent, &slow) }()
	fmt.Printf("ports %d %d\n", port, silent.Addr().(*net.TCPAddr).Port)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for {
		select {
		case err := <-errc:
			return err
		case line, ok := <-lines:
			if !ok {
				return nil // the harness is gone
			}
			if line == "count" {
				fmt.Printf("count %d %d\n", fast.Load(), slow.Load())
			}
		}
	}
}

// listenBlocking opens a blocking listening socket on 127.0.0.1:0 with a
// deep backlog: a full queue would drop SYNs, and a dropped SYN is retried
// after 1 s, longer than a probe's timeout.
func listenBlocking() (fd, port int, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("listen: %w", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("getsockname: %w", err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

// acceptFast accepts and closes connections on the blocking socket fd from
// one locked thread: two system calls a connection, no netpoller.
func acceptFast(fd int, n *atomic.Int64) error {
	runtime.LockOSThread()
	for {
		c, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			n.Add(1)
			unix.Close(c)
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
		default:
			return fmt.Errorf("accept: %w", err)
		}
	}
}

// acceptSilent accepts connections and reads from each, without ever
// answering, until the client closes it (an HTTP probe, at its timeout).
func acceptSilent(l net.Listener, n *atomic.Int64) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		n.Add(1)
		go func() {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

// runFloor is the -mode floor child: the least a Go program does to make n
// TCP connections a second to 127.0.0.1:port in batches per second, on the
// daemon's grid (multiples of 1s/batches on the wall clock). Each connection
// is socket, a blocking connect (on loopback the handshake completes inside
// the call), SO_LINGER 0 (a reset, as the daemon's probes close) and close.
// It prints "ready" after its first batch and exits when stdin closes.
func runFloor(port, n, batches int) error {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	sa := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	grid := time.Second / time.Duration(batches)
	per, extra := n/batches, n%batches
	next := time.Now().Truncate(grid).Add(grid)
	failed := 0
	for i := 0; ; i++ {
		time.Sleep(time.Until(next)) // the workload's own schedule
		slot := int(next.UnixNano()/int64(grid)) % batches
		k := per
		if slot < extra {
			k++
		}
		for range k {
			if err := connectOnce(sa); err != nil {
				failed++
				if failed <= 3 {
					fmt.Fprintln(os.Stderr, "floor:", err)
				}
			}
		}
		if i == 0 {
			fmt.Println("ready")
		}
		next = next.Add(grid)
		if now := time.Now(); next.Before(now) {
			next = now.Truncate(grid).Add(grid) // ran over: skip, as the daemon does
		}
	}
}

func connectOnce(sa *unix.SockaddrInet4) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	return nil
}
