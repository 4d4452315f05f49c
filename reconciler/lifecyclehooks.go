package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reconciled/reconciled/hooks"
	"github.com/reconciled/reconciled/internal/expand"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

// LifecycleError is a failed preStart (or preStop): its message is the
// instance's, as is ("preStart failed: exit code 3: <output>").
type LifecycleError struct {
	Hook   string // preStart or preStop
	What   string // "exit code 3", "timed out after 30s"
	Output string // the end of its output
}

func (e *LifecycleError) Error() string {
	msg := e.Hook + " failed: " + e.What
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

// startFailure is the message of a start that failed with err.
func startFailure(err error) string {
	var le *LifecycleError
	if errors.As(err, &le) {
		return err.Error() // as redacted (redactStart), the hook's own words
	}
	return "start failed: " + err.Error()
}

// runLifecycle runs hook (preStart or preStop) of instance idx of p as
// base says the instance runs: its environment, working directory, user
// and cgroup, bounded by timeout.
func (s *OSStarter) runLifecycle(ctx context.Context, name string, h *spec.LifecycleHook, timeout time.Duration, base proc.Spec) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	lookup := expand.Lookup(base.Env)
	argv := make([]string, len(h.Exec.Command))
	for i, a := range h.Exec.Command {
		argv[i] = expand.String(a, lookup)
	}
	res, err := hooks.RunCommand(ctx, s.Procs, proc.Spec{
		Name: base.Name + " " + name, Argv: argv, Env: base.Env, Dir: base.Dir,
		Credential: base.Credential, Umask: base.Umask, Cgroup: base.Cgroup,
	})
	le := &LifecycleError{Hook: name}
	switch {
	case err != nil:
		le.What = "cannot start: " + err.Error()
	case res.Ended:
		le.What, le.Output = fmt.Sprintf("timed out after %v and was killed", timeout), res.Output
	case res.Err != nil:
		le.What, le.Output = res.Err.Error(), res.Output
	case res.Status.Signal != 0:
		le.What, le.Output = "killed by signal "+proc.SignalName(res.Status.Signal), res.Output
	case res.Status.Code != 0:
		le.What, le.Output = fmt.Sprintf("exit %d", res.Status.Code), res.Output
	default:
		return nil
	}
	return le
}

// PreStop runs the preStop hook of instance idx of p, whose process is pr,
// until it ends or timeout; its error says why it failed. The stop goes on
// either way.
func (s *OSStarter) PreStop(ctx context.Context, p *spec.Program, idx int, pr Process, timeout time.Duration) error {
	h := p.Spec.Lifecycle.PreStop
	if h == nil {
		return nil
	}
	env, cred, err := s.identity(p, idx)
	if err != nil {
		return &LifecycleError{Hook: "preStop", What: err.Error()}
	}
	base := proc.Spec{Name: fmt.Sprintf("%s-%d", p.Metadata.Name, idx), Env: env, Dir: s.workingDir(p), Credential: cred, Umask: p.Spec.Umask}
	if c, ok := pr.(*cgroupProcess); ok {
		base.Cgroup = &proc.Cgroup{Dir: c.cg.Dir(), Procs: c.cg.Procs()[1:]}
	}
	return s.runLifecycle(ctx, "preStop", h, timeout, base)
}

// PreStopper runs an instance's preStop hook; OSStarter is one.
type PreStopper interface {
	PreStop(ctx context.Context, p *spec.Program, idx int, pr Process, timeout time.Duration) error
}

// preStopDone is the message of a preStop hook that ended.
type preStopDone struct {
	idx, gen int
	err      error
}

// preStop runs in's preStop hook off the program's goroutine; its end
// comes back as a preStopDone message. Without a PreStopper it is done at
// once.
func (p *program) preStop(in *instance, timeout time.Duration) any {
	ps, ok := p.starter.(PreStopper)
	if !ok || in.proc == nil {
		return evPreStopDone{}
	}
	prog, idx, gen, pr := in.spec, in.idx, in.gen, in.proc
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := ps.PreStop(p.ctx, prog, idx, pr, timeout)
		p.post(preStopDone{idx: idx, gen: gen, err: err})
	}()
	return nil
}
