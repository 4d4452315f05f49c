package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// terminate stops p the real-process way:
//
//	t=0        sig to the group (then SIGCONT, so that a stopped group sees it)
//	t<timeout  leader exited and group empty -> Release, return the exit
//	t=timeout  SIGKILL to the group, even if the leader exited already
//	           (the unreaped leader still pins the pgid)
//	later      leader exited and group empty -> Release, return the exit
//
// The returned status is the leader's. If ctx ends before the group is empty
// after SIGKILL, terminate returns ctx's error and p is not released; the caller
// may call terminate again or Release.
func terminate(ctx context.Context, p *Process, sig syscall.Signal, timeout time.Duration) (ExitStatus, error) {
	if err := p.SignalGroup(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return ExitStatus{}, err
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGCONT {
		// As systemd does: a stopped process acts on sig only once continued.
		_ = p.SignalGroup(syscall.SIGCONT)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	err := p.WaitGroupEmpty(tctx)
	cancel()
	if err != nil {
		if err := p.SignalGroup(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return ExitStatus{}, err
		}
		if err := p.WaitGroupEmpty(ctx); err != nil {
			return ExitStatus{}, fmt.Errorf("terminate %s (pid %d): %w", p.name, p.pid, err)
		}
	}
	st, err := p.Wait(ctx)
	if err != nil {
		return ExitStatus{}, err
	}
	if err := p.Release(); err != nil {
		return st, err
	}
	return st, nil
}
