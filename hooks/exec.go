package hooks

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/proc"
)

const (
	// killGrace bounds how long a run waits for its hook's leader to exit
	// after SIGKILL; only a process stuck in the kernel (D state) takes
	// longer, and it is then released in the background. Wall-clock time: it
	// is a guard against the kernel, not a policy.
	killGrace = 2 * time.Second
	// outputGrace bounds how long a run waits, after killing the group, for
	// the end of the output pipe: only a process that left the group
	// (setsid) with the pipe open holds it longer.
	outputGrace = 100 * time.Millisecond
)

// runExec runs an exec hook through RunCommand, with its stdout and stderr
// read only by the Runner (never the instance's log).
func (r *Runner) runExec(ctx context.Context, j job, env []string) *failure {
	if r.starter == nil {
		return &failure{what: "failed: no process starter"}
	}
	res, err := RunCommand(ctx, r.starter, proc.Spec{
		Name:       r.program + " hook",
		Argv:       expandAll(j.hook.Exec.Command, env),
		Env:        env,
		Dir:        j.inst.Dir,
		Credential: j.inst.Credential,
	})
	if err != nil {
		return &failure{what: "failed to start: " + err.Error()}
	}
	f := &failure{output: res.Output}
	switch {
	case res.Ended:
		f.what, f.ended = "was killed", true
	case res.Err != nil:
		f.what = "failed: " + res.Err.Error()
	case !res.Status.Success():
		f.what = "failed: " + res.Status.String()
	default:
		return nil
	}
	return f
}

// CommandResult is how a command run by RunCommand ended.
type CommandResult struct {
	Status proc.ExitStatus // its leader's exit
	Ended  bool            // ctx ended first: it was killed
	Err    error           // its leader could not be waited for
	Output string          // the end of its output (OutputTail bytes), trimmed
}

// RunCommand runs ps as the leader of a new process group, with its stdout
// and stderr on one pipe read here (ps.Stdout and ps.Stderr are replaced),
// and waits for the leader to exit or ctx to end. Then it SIGKILLs the
// group in both cases: at a timeout that stops the command, and after an
// exit it ends what the command left running. An error is a failure to
// start. Lifecycle hooks (preStart, preStop) run through it too.
func RunCommand(ctx context.Context, starter Starter, ps proc.Spec) (CommandResult, error) {
	rd, w, err := os.Pipe()
	if err != nil {
		return CommandResult{}, err
	}
	ps.Stdout, ps.Stderr = w, w
	p, err := starter.Start(ps)
	w.Close() // the child has its copy: EOF comes when the group is gone
	if err != nil {
		rd.Close()
		return CommandResult{}, err
	}
	out := startTail(rd)
	var res CommandResult
	select {
	case <-p.Done():
	case <-ctx.Done():
		res.Ended = true
	}
	// Safe after the leader's exit too: it is unreaped until Release, so its
	// pid still names this group.
	_ = p.SignalGroup(syscall.SIGKILL)
	res.Status, res.Err = release(ctx, p)
	b, cut := out.finish()
	res.Output = trimTail(b, cut)
	return res, nil
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
		return proc.ExitStatus{}, errors.New("did not exit " + killGrace.String() + " after SIGKILL")
	}
	// Done is closed: Wait returns at once, but picks ctx's error at random
	// when ctx ended too, so it gets a context that does not end.
	st, err := p.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return st, err
	}
	return st, p.Release()
}

// tail reads a hook's output on a goroutine of its own, keeping the last
// OutputTail bytes, so that the hook never blocks on a full pipe.
type tail struct {
	r    *os.File
	buf  []byte // at most 2*OutputTail, the last OutputTail of it kept
	cut  bool   // bytes before buf were dropped
	done chan struct{}
}

func startTail(r *os.File) *tail {
	t := &tail{r: r, buf: make([]byte, 0, 2*OutputTail), done: make(chan struct{})}
	go t.run()
	return t
}

func (t *tail) run() {
	defer close(t.done)
	for {
		if len(t.buf) == cap(t.buf) {
			n := copy(t.buf, t.buf[len(t.buf)-OutputTail:])
			t.buf = t.buf[:n]
			t.cut = true
		}
		n, err := t.r.Read(t.buf[len(t.buf):cap(t.buf)])
		t.buf = t.buf[:len(t.buf)+n]
		if err != nil {
			return
		}
	}
}

// finish waits for EOF, at most outputGrace, closes the pipe and returns
// the last OutputTail bytes read. Call it after the group has been killed.
func (t *tail) finish() ([]byte, bool) {
	_ = t.r.SetReadDeadline(time.Now().Add(outputGrace))
	<-t.done
	t.r.Close()
	b, cut := t.buf, t.cut
	if len(b) > OutputTail {
		b, cut = b[len(b)-OutputTail:], true
	}
	return b, cut
}
