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

// runExec runs an exec hook as the leader of a new process group, its stdout
// and stderr on one pipe that only the Runner reads (never the instance's
// log), and waits for the leader to exit or ctx to end. Then it SIGKILLs the
// group in both cases: at the timeout that stops the hook, and after an exit
// it ends what the hook left running, so that MaxRunning bounds processes,
// not just leaders.
func (r *Runner) runExec(ctx context.Context, j job, env []string) *failure {
	if r.starter == nil {
		return &failure{what: "failed: no process starter"}
	}
	argv := expandAll(j.hook.Exec.Command, env)
	rd, w, err := os.Pipe()
	if err != nil {
		return &failure{what: "failed: " + err.Error()}
	}
	p, err := r.starter.Start(proc.Spec{
		Name:       r.program + " hook",
		Argv:       argv,
		Env:        env,
		Dir:        j.inst.Dir,
		Credential: j.inst.Credential,
		Stdout:     w,
		Stderr:     w,
	})
	w.Close() // the child has its copy: EOF comes when the group is gone
	if err != nil {
		rd.Close()
		return &failure{what: "failed to start: " + err.Error()}
	}
	out := startTail(rd)
	ended := false // the run's context ended before the leader exited
	select {
	case <-p.Done():
	case <-ctx.Done():
		ended = true
	}
	// Safe after the leader's exit too: it is unreaped until Release, so its
	// pid still names this group.
	_ = p.SignalGroup(syscall.SIGKILL)
	st, werr := release(ctx, p)
	b, cut := out.finish()
	f := &failure{output: trimTail(b, cut)}
	switch {
	case ended:
		f.what, f.ended = "was killed", true
	case werr != nil:
		f.what = "failed: " + werr.Error()
	case !st.Success():
		f.what = "failed: " + st.String()
	default:
		return nil
	}
	return f
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
