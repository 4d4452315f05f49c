package reconciler

// Restarting one instance (reconciled restart NAME-i), as kubectl delete
// pod does: the control socket asks, the loop forwards the request to the
// program's goroutine as a message, and the lifecycle carries it out
// (evRestart): the process is stopped and, once its group is gone, the
// instance starts again from STOPPED like any other.

import (
	"context"
	"fmt"
)

// restartReq asks a program to restart instance index.
type restartReq struct {
	index int
	force bool // SIGKILL instead of the stop signal
	reply chan error
}

// Restart restarts instance index of program: its process is stopped (with
// SIGKILL when force, else its stopSignal) and started again once its group
// is gone; an instance in BACKOFF, EXITED or FATAL starts at once. It
// returns once the program has taken the request.
func (r *Reconciler) Restart(ctx context.Context, program string, index int, force bool) error {
	reply := make(chan error, 1)
	return r.control(ctx, controlRequest{program: program, msg: restartReq{index: index, force: force, reply: reply}, reply: reply})
}

// restart carries out a restartReq, or says why it cannot.
func (p *program) restart(index int, force bool) error {
	name := fmt.Sprintf("%s-%d", p.name, index)
	in := p.instances[index]
	switch {
	case in == nil:
		return fmt.Errorf("%s: no such instance (%s runs %d): instances come and go with spec.replicas", name, p.name, p.want())
	case p.cur.deleted || p.cur.shutdown:
		return fmt.Errorf("%s: the program is being stopped", name)
	case in.target == nil:
		return fmt.Errorf("%s is being stopped (desired: stopped, or scaled down)", name)
	}
	switch in.phase {
	case phStarting, phRunning, phBackoff, phExited, phFatal, phFatalRetry:
	case phSpawning:
		return fmt.Errorf("%s is starting: %w to restart yet", name, ErrNotRunning)
	default:
		return fmt.Errorf("%s is %s: nothing to restart", name, in.state())
	}
	p.step(in, evRestart{force: force})
	return nil
}
