package benchkit

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TokenEnv is the environment variable that marks every process a harness
// starts, so that the harness and the scripts can find and end them all
// (sweep; bench_sweep in hack/bench/lib.sh does the same in shell).
const TokenEnv = "RECONCILED_BENCH_TOKEN"

// newToken returns a random token for TokenEnv.
func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "rcdbench-" + hex.EncodeToString(b[:])
}

// Proc is a child of a harness: the daemon, a baseline or a helper.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	// Stdin and Lines (its stdout, line by line, closed at EOF) are set by
	// Procs.StartPiped only.
	Stdin io.WriteCloser
	Lines <-chan string

	done chan struct{} // closed when Cmd.Wait returned
	err  error         // Cmd.Wait's, valid after done
}

// Start starts cmd and waits for it in the background (see Done).
func Start(name string, cmd *exec.Cmd) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is p's process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once p has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is what Cmd.Wait returned; valid once Done is closed.
func (p *Proc) Err() error { return p.err }

// Exited reports whether p has exited and been reaped.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Send writes line and a newline to p's stdin.
func (p *Proc) Send(line string) error {
	_, err := io.WriteString(p.Stdin, line+"\n")
	return err
}

// Expect reads p's next output line, which must start with the word key,
// and returns the words after it.
func (p *Proc) Expect(key string, timeout time.Duration) ([]string, error) {
	select {
	case line, ok := <-p.Lines:
		if !ok {
			select {
			case <-p.done:
				return nil, fmt.Errorf("%s: exited (%v) while waiting for %q", p.Name, p.err, key)
			case <-time.After(time.Second):
				return nil, fmt.Errorf("%s: closed its output while waiting for %q", p.Name, key)
			}
		}
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != key {
			return nil, fmt.Errorf("%s: got %q, want %q", p.Name, line, key)
		}
		return f[1:], nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s: no %q within %v", p.Name, key, timeout)
	}
}

// Kill SIGKILLs p's process group (p leads one) and waits up to 5 s for p.
func (p *Proc) Kill() {
	if !p.Exited() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// Stop sends p SIGTERM, waits up to grace for it to exit, and then kills
// its process group (Kill).
func (p *Proc) Stop(grace time.Duration) {
	if !p.Exited() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	p.Kill()
}

// Procs tracks the processes a harness starts, so that Cleanup can end them
// all, whatever state the run is in.
type Procs struct {
	token string

	mu      sync.Mutex
	list    []*Proc
	daemon  *Proc
	cleaned bool
}

// NewProcs returns a Procs whose processes carry TokenEnv=token; a random
// token when token is empty.
func NewProcs(token string) *Procs {
	if token == "" {
		token = newToken()
	}
	return &Procs{token: token}
}

// Env is this process's environment plus TokenEnv=token.
func (ps *Procs) Env() []string { return append(os.Environ(), TokenEnv+"="+ps.token) }

// track starts cmd as it is and tracks it. It refuses once Cleanup began,
// so that nothing started meanwhile escapes the cleanup.
func (ps *Procs) track(name string, cmd *exec.Cmd) (*Proc, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.cleaned {
		return nil, errors.New("cleaning up")
	}
	p, err := Start(name, cmd)
	if err != nil {
		return nil, err
	}
	ps.list = append(ps.list, p)
	return p, nil
}

// StartPiped starts cmd with the token, in its own process group (for
// Kill), dying with the harness, with a stdin pipe (Stdin) and its stdout
// read line by line (Lines); its stderr is the harness's.
func (ps *Procs) StartPiped(name string, cmd *exec.Cmd) (*Proc, error) {
	cmd.Env = ps.Env()
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// Not cmd.StdoutPipe: Wait (called as soon as the process exits) would
	// close it under the reader and lose the last line.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	p, err := ps.track(name, cmd)
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, err
	}
	lines := make(chan string, 16)
	p.Stdin, p.Lines = stdin, lines
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return p, nil
}

// StartDaemon starts `bin run --dir dir [extra...]` with the token and its
// output in logPath, and waits up to 15 s until it logs that it watches the
// directory. Cleanup stops it first.
func (ps *Procs) StartDaemon(bin, dir, logPath string, extra ...string) (*Proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, append([]string{"run", "--dir", dir}, extra...)...)
	cmd.Env = ps.Env()
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own group, so that cleanup can kill whatever it leaves; and it
	// dies with the harness (its instances then die with it: PDEATHSIG).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p, err := ps.track("daemon", cmd)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	ps.daemon = p
	ps.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return nil, fmt.Errorf("daemon exited at start (%v); see %s", p.err, logPath)
		}
		if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte("Watching directory")) {
			return p, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, fmt.Errorf("daemon not watching after 15s; see %s", logPath)
}

// Cleanup ends everything ps started: the daemon first (SIGTERM, up to 30 s
// to exit, then SIGKILL to its group), then the others (SIGKILL to their
// groups), then whatever still carries the token (sweep, once more 100 ms
// later if it found any); last it disposes of ws (which may be nil). It
// returns how many processes the first sweep killed. Only the first call
// does anything; later ones return 0 at once.
func (ps *Procs) Cleanup(ws *Workspace) (leaked int) {
	ps.mu.Lock()
	if ps.cleaned {
		ps.mu.Unlock()
		return 0
	}
	ps.cleaned = true
	procs := append([]*Proc(nil), ps.list...)
	d := ps.daemon
	ps.mu.Unlock()
	if d != nil {
		d.Stop(30 * time.Second)
	}
	for _, p := range procs {
		if p != d {
			p.Kill()
		}
	}
	leaked = sweep(ps.token)
	if leaked > 0 {
		time.Sleep(100 * time.Millisecond)
		sweep(ps.token)
	}
	ws.Dispose()
	return leaked
}

// sweep SIGKILLs every process but this one whose environment carries
// TokenEnv=token, and returns how many.
func sweep(token string) int {
	want := []byte(TokenEnv + "=" + token)
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if bytes.Equal(kv, want) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					n++
				}
				break
			}
		}
	}
	return n
}

// Guard runs cleanup and exits with status 130 on SIGINT, SIGTERM, SIGHUP
// or SIGPIPE, and with status 1 once timeout has passed, saying why on
// stderr after prefix. exit is os.Exit, passed in by main, the only place
// that exits. stop cancels the timeout.
//
// SIGPIPE is a reader of the harness's output gone (`run.sh | head`).
// Left to Go, a write to such a stdout or stderr would end the harness at
// once, and the daemon with it (its parent-death signal is SIGKILL), which
// would leave its instances' cgroups behind. Caught, the write fails with
// EPIPE, and the daemon is stopped as on SIGTERM.
func Guard(prefix string, timeout time.Duration, cleanup func(), exit func(int)) (stop func() bool) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "%s: %v: cleaning up\n", prefix, s)
		cleanup()
		exit(130)
	}()
	timer := time.AfterFunc(timeout, func() {
		fmt.Fprintf(os.Stderr, "%s: the whole run exceeded -timeout %v: cleaning up\n", prefix, timeout)
		cleanup()
		exit(1)
	})
	return timer.Stop
}
