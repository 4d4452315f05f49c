package reconciler

// The control socket: how `reconciled signal` reaches the daemon's own
// process handles. It is the only command the daemon takes other than
// through the directory, because a signal is an action, not desired state:
// desired state changes only through the manifests.
//
// STATUSDIR/.reconciled/control.sock, a unix stream socket with mode 0600
// (and the peer's uid checked: root or the daemon's own user). One request
// per connection, one JSON object a line each way:
//
//	-> {"op":"signal","program":"web","index":-1,"signal":"HUP"}
//	<- {"error":""}
//
// index -1 means every instance. signal is a name (HUP, SIGHUP, hup) or a
// number.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// ControlSocketName is the control socket's name in the state directory.
const ControlSocketName = "control.sock"

// controlTimeout bounds one request, so a stuck client cannot pin a
// goroutine of the daemon.
const controlTimeout = 10 * time.Second

// ErrNoDaemon means nothing listens on the control socket.
var ErrNoDaemon = errors.New("no daemon is listening")

// ControlRequest is one request on the control socket.
type ControlRequest struct {
	Op      string `json:"op"`
	Program string `json:"program"`
	// Index is the instance, or -1 for every instance.
	Index  int    `json:"index"`
	Signal string `json:"signal"`
}

// ControlResponse is the answer to a ControlRequest; Error is empty on
// success.
type ControlResponse struct {
	Error string `json:"error"`
}

// Signaller sends a signal through the daemon's process handles; the
// *Reconciler is one.
type Signaller interface {
	Signal(ctx context.Context, program string, index int, sig syscall.Signal) error
}

// ControlServer serves the control socket; ListenControl makes one.
type ControlServer struct {
	ln   *net.UnixListener
	path string
}

// ListenControl creates stateDir/control.sock with mode 0600, replacing a
// socket left by an earlier daemon (the caller holds the directory's lock,
// so nothing else uses it). The socket is bound in a private temporary
// directory, given its mode, and only then renamed into place, so nobody
// can connect before the mode is set.
func ListenControl(stateDir string) (*ControlServer, error) {
	tmp, err := os.MkdirTemp(stateDir, ".control-")
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, "s")
	var ln *net.UnixListener
	err = withShortPath(bound, func(p string) (err error) {
		ln, err = net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // it is renamed away; Serve removes it
	path := filepath.Join(stateDir, ControlSocketName)
	if err := os.Chmod(bound, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Rename(bound, path); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return &ControlServer{ln: ln, path: path}, nil
}

// Path is the socket's path.
func (s *ControlServer) Path() string { return s.path }

// Serve answers requests with s until ctx is done, then closes the socket,
// removes it, and returns once every request in flight has been answered.
func (s *ControlServer) Serve(ctx context.Context, sig Signaller, log logr.Logger) {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	defer os.Remove(s.path)
	defer s.ln.Close()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				log.Error(err, "Control socket failed: reconciled signal will not work", "path", s.path)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			s.handle(ctx, conn, sig, log)
		}()
	}
}

func (s *ControlServer) handle(ctx context.Context, conn *net.UnixConn, sig Signaller, log logr.Logger) {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout))
	reply := func(err error) {
		var r ControlResponse
		if err != nil {
			r.Error = err.Error()
		}
		b, _ := json.Marshal(r)
		_, _ = conn.Write(append(b, '\n'))
	}
	if err := checkPeer(conn); err != nil {
		log.Info("Refused a control connection", "reason", err.Error())
		reply(err)
		return
	}
	line, err := bufio.NewReaderSize(conn, 4096).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return
	}
	var req ControlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		reply(fmt.Errorf("bad request: %w", err))
		return
	}
	switch req.Op {
	case "signal":
		n, err := ParseSignal(req.Signal)
		if err != nil {
			reply(err)
			return
		}
		instance := req.Program
		if req.Index >= 0 {
			instance = fmt.Sprintf("%s-%d", req.Program, req.Index)
		}
		log.Info("Signal requested", "program", req.Program, "instance", instance, "signal", req.Signal)
		reply(sig.Signal(ctx, req.Program, req.Index, n))
	default:
		reply(fmt.Errorf("unknown op %q", req.Op))
	}
}

// checkPeer lets in root and the daemon's own user; the socket's mode does
// that already, this holds even if someone loosens the mode.
func checkPeer(conn *net.UnixConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if cred.Uid != 0 && int(cred.Uid) != os.Geteuid() {
		return fmt.Errorf("uid %d may not control this daemon", cred.Uid)
	}
	return nil
}

// SendSignal asks the daemon whose state directory is stateDir to send sig
// to instance index of program (every instance when index < 0), through
// its own process handles. sig is checked here first, so a typo is a usage
// error without a round trip.
func SendSignal(ctx context.Context, stateDir, program string, index int, sig string) error {
	if _, err := ParseSignal(sig); err != nil {
		return err
	}
	path := filepath.Join(stateDir, ControlSocketName)
	var conn net.Conn
	err := withShortPath(path, func(p string) (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", p)
		return err
	})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w on %s: is `reconciled run` running for this directory?", ErrNoDaemon, path)
		}
		return fmt.Errorf("connect to the daemon: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(controlTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	req, _ := json.Marshal(ControlRequest{Op: "signal", Program: program, Index: index, Signal: sig})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		return fmt.Errorf("send to the daemon: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("read the daemon's answer: %w", err)
	}
	var resp ControlResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return fmt.Errorf("read the daemon's answer: %w", err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	return nil
}

// ParseSignal accepts any signal by name, with or without SIG, in any case
// (HUP, SIGUSR1, rtmin+2), or by number.
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %q: a signal number is 1 to 64", s)
		}
		return syscall.Signal(n), nil
	}
	t = strings.TrimPrefix(t, "SIG")
	if n := unix.SignalNum("SIG" + t); n != 0 {
		return n, nil
	}
	if base, off, ok := strings.Cut(t, "+"); ok && (base == "RTMIN") {
		if k, err := strconv.Atoi(off); err == nil && k >= 0 && 34+k <= 64 {
			return syscall.Signal(34 + k), nil
		}
	}
	if t == "RTMIN" {
		return syscall.Signal(34), nil
	}
	return 0, fmt.Errorf("signal %q: not a signal name (HUP, INT, TERM, KILL, USR1, ...) or number", s)
}

// withShortPath calls f with path, or, when path is too long for a unix
// socket's address (108 bytes), with the same file reached through
// /proc/self/fd of its open directory.
func withShortPath(path string, f func(string) error) error {
	if len(path) < 100 {
		return f(path)
	}
	dir, base := filepath.Split(path)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return f(path)
	}
	defer unix.Close(fd)
	return f(fmt.Sprintf("/proc/self/fd/%d/%s", fd, base))
}
