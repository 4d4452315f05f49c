package health

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

const (
	// killGrace bounds how long a probe waits for its command's leader to
	// exit after SIGKILL; only a process stuck in the kernel (D state) takes
	// longer, and it is then released in the background.
	killGrace = 2 * time.Second
	// outputGrace bounds how long a probe waits, after killing the group,
	// for the write end of the output pipe to close. Only a process that left
	// the group (setsid) with the pipe open holds it longer.
	outputGrace = 100 * time.Millisecond
)

// execProber runs a command in the instance's environment, working directory
// and identity; exit 0 is success.
type execProber struct {
	starter ExecStarter
	spec    proc.Spec // without stdio
}

func newExec(a *spec.ExecAction, t Target, lookup func(string) (string, bool)) (*execProber, error) {
	if t.Starter == nil {
		return nil, errors.New("exec probe: no process starter")
	}
	if len(a.Command) == 0 || a.Command[0] == "" {
		return nil, errors.New("exec probe: empty command")
	}
	argv := make([]string, len(a.Command))
	for i, arg := range a.Command {
		argv[i] = spec.Expand(arg, lookup)
	}
	return &execProber{
		starter: t.Starter,
		spec:    proc.Spec{Name: "exec probe", Argv: argv, Env: t.Env, Dir: t.Dir, Credential: t.Credential},
	}, nil
}

// Probe starts the command as the leader of a new process group, with stdout
// and stderr on one pipe, and waits for the leader to exit or ctx to end.
// Then it SIGKILLs the group, in both cases: at the timeout that stops the
// command, and after a normal exit it ends whatever the command left running
// in the background, which would otherwise pile up, one per period.
func (e *execProber) Probe(ctx context.Context) Result {
	start := time.Now()
	if ctx.Err() != nil {
		return Result{Err: timeoutError(ctx, start)}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Result{Err: fmt.Errorf("exec probe: %w", err)}
	}
	sp := e.spec
	sp.Stdout, sp.Stderr = w, w
	p, err := e.starter.Start(sp)
	w.Close() // the child has its copy; EOF comes when the group is gone
	if err != nil {
		r.Close()
		return Result{Err: err}
	}
	out := startCapture(r)

	expired := false
	select {
	case <-p.Done():
	case <-ctx.Done():
		expired = true
	}
	// Safe even after the leader exited: it is unreaped until Release, so
	// its pid still names this group.
	_ = p.SignalGroup(syscall.SIGKILL)
	st, werr := release(ctx, p)
	b, truncated := out.finish()

	res := Result{Output: trimOutput(b, truncated)}
	switch {
	case expired:
		res.Err = timeoutError(ctx, start)
	case werr != nil:
		res.Err = werr
	case !st.Success():
		res.Err = fmt.Errorf("command failed: %s", st)
	default:
		res.OK = true
	}
	return res
}

// release waits, at most killGrace, for p's leader to exit after SIGKILL,
// and reaps it. If it does not exit in time, a goroutine releases it when it
// does, so that no zombie and no pidfd is left behind.
func release(ctx context.Context, p *proc.Process) (proc.ExitStatus, error) {
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case <-p.Done():
	case <-t.C:
		go func() {
			<-p.Done()
			_ = p.Release()
		}()
		return proc.ExitStatus{}, fmt.Errorf("exec probe (pid %d): did not exit %s after SIGKILL", p.Pid(), killGrace)
	}
	// Done is closed, so Wait returns the status at once, whatever ctx.
	st, err := p.Wait(ctx)
	if err != nil {
		return st, err
	}
	if err := p.Release(); err != nil {
		return st, err
	}
	return st, nil
}

// capture reads a command's output in its own goroutine, keeping the first
// MaxOutput bytes and discarding the rest, so that the command never blocks
// on a full pipe.
type capture struct {
	r         *os.File
	buf       []byte
	truncated bool
	done      chan struct{}
}

func startCapture(r *os.File) *capture {
	c := &capture{r: r, buf: make([]byte, 0, MaxOutput), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *capture) run() {
	defer close(c.done)
	var scratch [512]byte
	for {
		if len(c.buf) < cap(c.buf) {
			n, err := c.r.Read(c.buf[len(c.buf):cap(c.buf)])
			c.buf = c.buf[:len(c.buf)+n]
			if err != nil {
				return
			}
			continue
		}
		n, err := c.r.Read(scratch[:])
		if n > 0 {
			c.truncated = true
		}
		if err != nil {
			return
		}
	}
}

// finish waits for EOF, at most outputGrace, closes the pipe and returns
// what was read. Call it after the group has been killed.
func (c *capture) finish() ([]byte, bool) {
	_ = c.r.SetReadDeadline(time.Now().Add(outputGrace))
	<-c.done
	c.r.Close()
	return c.buf, c.truncated
}
