package health

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
)

func newTCPProber(t *testing.T, host, port string, env ...string) Prober {
	t.Helper()
	pr, err := New(&spec.Probe{TCPSocket: &spec.TCPSocketAction{Host: host, Port: port}}, Target{Env: env})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return pr
}

// listen returns a listener that accepts and closes connections until the
// test ends, and its port.
func listen(t *testing.T) (net.Listener, int) {
	t.Helper()
	l, port, _ := listenCounting(t)
	return l, port
}

// listenCounting is listen, plus the number of connections accepted and
// closed so far.
func listenCounting(t *testing.T) (net.Listener, int, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	accepted := new(atomic.Int64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted.Add(1) // after the close: a test that counts fds waits for it
		}
	}()
	return l, l.Addr().(*net.TCPAddr).Port, accepted
}

func TestTCPSuccess(t *testing.T) {
	_, port := listen(t)
	for _, host := range []string{"127.0.0.1", "localhost", ""} {
		pr := newTCPProber(t, host, strconv.Itoa(port))
		if r := probeWithin(t, pr, 5*time.Second); !r.OK || r.Err != nil || r.Output != "" {
			t.Errorf("host %q: got %+v, want OK", host, r)
		}
	}
}

func TestTCPRefused(t *testing.T) {
	port := strconv.Itoa(freePort(t))
	pr := newTCPProber(t, "127.0.0.1", port)
	r := probeWithin(t, pr, 5*time.Second)
	if r.OK || !errors.Is(r.Err, syscall.ECONNREFUSED) || errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("got %+v, want connection refused", r)
	}
	if want := "tcp 127.0.0.1:" + port + ": connect: connection refused"; r.Err.Error() != want {
		t.Errorf("Err = %q, want %q", r.Err, want)
	}
}

// TestTCPTimeout: a listener whose accept queue is full drops SYNs, so the
// connect hangs until the probe's timeout.
func TestTCPTimeout(t *testing.T) {
	port, _ := fullListener(t)
	pr := newTCPProber(t, "127.0.0.1", strconv.Itoa(port))
	r := probeWithin(t, pr, 200*time.Millisecond) // the SYN is dropped: it returns at the timeout
	if r.OK || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("got %+v, want a timeout", r)
	}
	checkTimeoutErr(t, r.Err, "tcp 127.0.0.1:"+strconv.Itoa(port)+": ", 200*time.Millisecond)
}

// fullListener returns the port and socket of a listener with a backlog of
// 0 that does not accept, after filling its accept queue.
func fullListener(t *testing.T) (int, int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	// Fill the queue: connects succeed until it is full, then hang.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i > 100 {
			t.Skip("the accept queue does not fill up")
		}
	}
	return port, fd
}

// TestTCPSlowHandshake: a handshake that does not complete within connect(2)
// (here: the SYN is dropped by a full accept queue, then retransmitted after
// about 1s, by when the queue has room) waits in the netpoller and succeeds.
func TestTCPSlowHandshake(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a SYN retransmission (1s)")
	}
	port, fd := fullListener(t)
	pr := newTCPProber(t, "127.0.0.1", strconv.Itoa(port))
	res := make(chan Result, 1)
	go func() {
		r := probeWithin(t, pr, 5*time.Second)
		res <- r
	}()
	// Once the probe's socket is in SYN_SENT, its SYN was dropped: make room.
	waitfor.Condition(t, waitTimeout, func() bool { return synSent(port) }, "the probe's SYN is dropped")
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	for {
		nfd, _, err := syscall.Accept4(fd, syscall.SOCK_CLOEXEC)
		if err != nil {
			break
		}
		syscall.Close(nfd)
	}
	select {
	case r := <-res:
		if !r.OK {
			t.Errorf("got %+v, want OK", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the probe did not return")
	}
}

// synSent reports whether a socket to 127.0.0.1:port is in SYN_SENT.
func synSent(port int) bool {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false
	}
	remote := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 3 && f[2] == remote && f[3] == "02" {
			return true
		}
	}
	return false
}

// TestTCPPortExpansion: a port (and host) may refer to the instance's
// environment, e.g. "808$(RECONCILED_INSTANCE)".
func TestTCPPortExpansion(t *testing.T) {
	_, port := listen(t)
	p := strconv.Itoa(port)
	env := []string{"HOST=127.0.0.1", "SUFFIX=" + p[1:]}
	pr := newTCPProber(t, "$(HOST)", p[:1]+"$(SUFFIX)", env...)
	if r := probeWithin(t, pr, 5*time.Second); !r.OK {
		t.Errorf("got %+v, want OK", r)
	}
}

func TestPortErrors(t *testing.T) {
	env := []string{spec.EnvInstance + "=3", "SECRET=hunter2", "BIG=99"}
	if _, err := New(&spec.Probe{TCPSocket: &spec.TCPSocketAction{Port: "808$(RECONCILED_INSTANCE)"}}, Target{Env: env}); err != nil {
		t.Errorf("port 808$(RECONCILED_INSTANCE): %v", err)
	}
	for _, port := range []string{"", "0", "65536", "http", "$(NOPE)", "80$(SECRET)", "999$(BIG)"} {
		for _, p := range []*spec.Probe{
			{TCPSocket: &spec.TCPSocketAction{Port: port}},
			{HTTPGet: &spec.HTTPGetAction{Port: port}},
		} {
			_, err := New(p, Target{Env: env})
			if err == nil {
				t.Errorf("port %q: no error", port)
				continue
			}
			if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), strconv.Quote(port)) {
				t.Errorf("port %q: error %q", port, err)
			}
		}
	}
}
