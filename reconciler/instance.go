package reconciler

import (
	"slices"
	"strconv"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/status"
)

// instance is one replica of a program: its lifecycle data (life, changed
// only by transition) and the handles the executor keeps for it. Only its
// program's goroutine touches it. Messages about it carry a generation:
// life.gen counts its processes and timerGen its timers, so that news of an
// earlier process or a cancelled timer is recognised and dropped.
type instance struct {
	idx int
	life

	proc     Process // the current process; nil: none
	timer    clock.Timer
	timerGen int
	probes   *probeRun // nil: no probes built or running (most instances)
	// previous is closed once the instance's previous process is let go
	// (its cgroup emptied, its leader reaped); nil: nothing to wait for.
	previous <-chan struct{}
	fullName string // NAME-i, once name has been called
}

// probeRun is what an instance whose spec has probes holds for its
// process, apart from the instance: there are thousands of instances, and
// most have no probes.
type probeRun struct {
	built  probers // built with the spawn, until its probes start
	cancel func()  // ends its probe workers; nil: none run
}

// setProbers keeps the probes built with the spawn of in's new process,
// until effStartProbes starts them.
func (in *instance) setProbers(prs probers) {
	if prs.readiness == nil && prs.liveness == nil {
		if in.probes != nil {
			in.probes.built = probers{}
		}
		return
	}
	if in.probes == nil {
		in.probes = &probeRun{}
	}
	in.probes.built = prs
}

// takeProbers returns the probes built with the spawn, and forgets them.
func (in *instance) takeProbers() probers {
	if in.probes == nil {
		return probers{}
	}
	prs := in.probes.built
	in.probes.built = probers{}
	return prs
}

// probeCancel returns what ends in's probe workers; nil: none run.
func (in *instance) probeCancel() func() {
	if in.probes == nil {
		return nil
	}
	return in.probes.cancel
}

// setProbeCancel records what ends in's probe workers (nil: none run).
func (in *instance) setProbeCancel(cancel func()) {
	switch {
	case in.probes != nil:
		in.probes.cancel = cancel
		if cancel == nil && in.probes.built.readiness == nil && in.probes.built.liveness == nil {
			in.probes = nil
		}
	case cancel != nil:
		in.probes = &probeRun{cancel: cancel}
	}
}

// name is NAME-i; program is always the same program's name.
func (in *instance) name(program string) string {
	if in.fullName == "" {
		in.fullName = program + "-" + strconv.Itoa(in.idx)
	}
	return in.fullName
}

// succeeded reports whether the instance is a one-shot job that finished:
// EXITED with one of its success codes.
func (in *instance) succeeded() bool {
	if in.phase != phExited || in.lastExit == nil || in.lastExit.Signal != "" {
		return false
	}
	return slices.Contains(in.spec.Spec.SuccessExitCodes, in.lastExit.Code)
}

// planned is the instance as the planner sees it.
func (in *instance) planned() planned {
	return planned{idx: in.idx, hash: in.hash, spec: in.spec, live: in.live(), ready: in.ready()}
}

// observed is the instance as the status file shows it.
func (in *instance) observed(program string) status.Instance {
	o := status.Instance{
		Name:     in.name(program),
		Index:    in.idx,
		State:    string(in.state()),
		Ready:    in.ready(),
		Health:   in.health(),
		Pid:      in.pid,
		Restarts: in.restarts,
		SpecHash: in.hash,
		LastExit: in.lastExit,
		Message:  in.message,
	}
	if in.recent != nil {
		o.RecentExits = *in.recent // shared: an exit makes a new slice
	}
	if in.pid != 0 {
		o.StartedAt = in.startedAt // shared: a start sets a new one
	}
	if in.phase == phBackoff && !in.nextRetry.IsZero() {
		at := in.nextRetry
		o.NextRetryAt = &at
	}
	return o
}
