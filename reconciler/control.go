package reconciler

// The control socket: how `reconciled signal` and `reconciled restart
// NAME-i` reach the daemon's own process handles. They are the only
// commands the daemon takes other than through the directory, because a
// signal or the restart of one instance is an action, not desired state:
// desired state changes only through the manifests.
//
// STATUSDIR/.reconciled/daemons/PID.sock, a unix stream socket of daemon
// PID with mode 0600 (and the peer's uid checked: root or the daemon's own
// user). A client reaches the daemon that owns the program it names (its
// lock, .reconciled/locks/NAME, says which: see claims.go). One request
// per connection, one JSON object a line each way:
//
//	-> {"op":"signal","program":"web","index":-1,"signal":"HUP"}
//	<- {"error":""}
//	-> {"op":"restart","program":"web","index":1,"force":true}
//	<- {"error":"web-1 is STOPPING: nothing to restart"}
//
// For signal, index -1 means every instance, and signal is a name (HUP,
// SIGHUP, hup) or a number. For restart, index is one instance, and force
// stops it with SIGKILL instead of its stopSignal. An error whose category
// a client branches on carries it in "reason" (see controlReasons).

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

// ControlSocketPath is the control socket of daemon pid in stateDir.
func ControlSocketPath(stateDir string, pid int) string {
	return DaemonPath(stateDir, pid) + ".sock"
}

// controlTimeout bounds one request, so a stuck client cannot pin a
// goroutine of the daemon.
const controlTimeout = 10 * time.Second

// ErrNoDaemon means nothing listens on the control socket.
var ErrNoDaemon = errors.New("no daemon is listening")

// ErrNoProgram means the daemon runs no program of that name (yet: it may
// not have read a new manifest).
var ErrNoProgram = errors.New("no such program")

// ErrNotRunning means the program has no instance with a process to act
// on (yet: one may be starting).
var ErrNotRunning = errors.New("no running instance")

// controlReasons name the errors that travel typed over the socket.
var controlReasons = map[string]error{"NoProgram": ErrNoProgram, "NotRunning": ErrNotRunning}

// ControlRequest is one request on the control socket.
type ControlRequest struct {
	Op      string `json:"op"`
	Program string `json:"program"`
	// Index is the instance, or -1 for every instance (signal only).
	Index  int    `json:"index"`
	Signal string `json:"signal,omitempty"`
	// Force: restart with SIGKILL instead of the stop signal.
	Force bool `json:"force,omitempty"`
}

// ControlResponse is the answer to a ControlRequest; Error is empty on
// success. Reason, when set, names the error's category (NoProgram,
// NotRunning).
type ControlResponse struct {
	Error  string `json:"error"`
	Reason string `json:"reason,omitempty"`
}

// Signaller sends a signal through the daemon's process handles; the
// *Reconciler is one.
type Signaller interface {
	Signal(ctx context.Context, program string, index int, sig syscall.Signal) error
}

// Restarter restarts one instance; the *Reconciler is one.
type Restarter interface {
	Restart(ctx context.Context, program string, index int, force bool) error
}

// Controller is what the control socket acts on.
type Controller interface {
	Signaller
	Restarter
}

// ControlServer serves the control socket; ListenControl makes one.
type ControlServer struct {
	ln   *net.UnixListener
	path string
}

// ListenControl creates this process's control socket in stateDir
// (ControlSocketPath) with mode 0600, replacing one left by an earlier
// daemon of the same pid (pids are reused; a live daemon's pid is not).
// The socket is bound in a private temporary directory, given its mode,
// and only then renamed into place, so nobody can connect before the mode
// is set.
func ListenControl(stateDir string) (*ControlServer, error) {
	path := ControlSocketPath(stateDir, os.Getpid())
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".control-")
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
func (s *ControlServer) Serve(ctx context.Context, ctl Controller, log logr.Logger) {
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
			s.handle(ctx, conn, ctl, log)
		}()
	}
}

func (s *ControlServer) handle(ctx context.Context, conn *net.UnixConn, ctl Controller, log logr.Logger) {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout))
	reply := func(err error) {
		var r ControlResponse
		if err != nil {
			r.Error = err.Error()
			for reason, sentinel := range controlReasons {
				if errors.Is(err, sentinel) {
					r.Reason = reason
				}
			}
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
		reply(ctl.Signal(ctx, req.Program, req.Index, n))
	case "restart":
		if req.Index < 0 {
			reply(errors.New("restart: name one instance"))
			return
		}
		log.Info("Restart requested", "program", req.Program, "instance", fmt.Sprintf("%s-%d", req.Program, req.Index), "force", req.Force)
		reply(ctl.Restart(ctx, req.Program, req.Index, req.Force))
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
// error without a round trip. An error the daemon names comes back
// wrapping ErrNoProgram or ErrNotRunning.
func SendSignal(ctx context.Context, stateDir, program string, index int, sig string) error {
	if _, err := ParseSignal(sig); err != nil {
		return err
	}
	return request(ctx, stateDir, ControlRequest{Op: "signal", Program: program, Index: index, Signal: sig})
}

// RestartInstance asks the daemon whose state directory is stateDir to
// restart instance index of program: to stop its process (with SIGKILL
// when force, else its stopSignal) and start it again, or to start at once
// one that is in BACKOFF, EXITED or FATAL. It returns once the instance's
// goroutine has taken the request, not once the new process runs.
func RestartInstance(ctx context.Context, stateDir, program string, index int, force bool) error {
	return request(ctx, stateDir, ControlRequest{Op: "restart", Program: program, Index: index, Force: force})
}

// request sends req to the daemon that owns req.Program and returns its
// answer as an error.
func request(ctx context.Context, stateDir string, req ControlRequest) error {
	pid, err := daemonFor(stateDir, req.Program)
	if err != nil {
		return err
	}
	path := ControlSocketPath(stateDir, pid)
	var conn net.Conn
	err = withShortPath(path, func(p string) (err error) {
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
	b, _ := json.Marshal(req)
	if _, err := conn.Write(append(b, '\n')); err != nil {
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
		return &remoteError{msg: resp.Error, sentinel: controlReasons[resp.Reason]}
	}
	return nil
}

// daemonFor returns the pid of the daemon to ask about program: its
// owner; else the only daemon of the directory (which answers for a
// program it has not read yet).
func daemonFor(stateDir, program string) (int, error) {
	if pid := ProgramOwner(stateDir, program); pid > 0 {
		return pid, nil
	}
	switch pids := Daemons(stateDir); len(pids) {
	case 0:
		return 0, fmt.Errorf("%w on %s: is `reconciled run` running for this directory?", ErrNoDaemon, filepath.Dir(stateDir))
	case 1:
		return pids[0], nil
	default:
		return 0, fmt.Errorf("%s: %w: none of the daemons of this directory (pids %s) owns it", program, ErrNoProgram, pidList(pids))
	}
}

// remoteError is an error the daemon answered: its message as the daemon
// put it, and its category for errors.Is.
type remoteError struct {
	msg      string
	sentinel error // nil when the daemon named none
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

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
