package reconciler

import (
	"context"
	"syscall"

	"github.com/reconciled/reconciled/health"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// ProcessStarter starts the process of one instance.
type ProcessStarter interface {
	Start(ctx context.Context, req StartRequest) (Process, error)
}

// StartRequest names what to start: instance Index of Program.
type StartRequest struct {
	Program *spec.Program
	Index   int
}

// Process is one started process group. Its leader stays unreaped until
// Release, so that signalling the group can never reach a reused pgid.
type Process interface {
	Pid() int
	// Signal sends sig to the leader only; SignalGroup to the whole group.
	Signal(sig syscall.Signal) error
	SignalGroup(sig syscall.Signal) error
	// Wait blocks until the leader exits, without reaping it.
	Wait(ctx context.Context) (proc.ExitStatus, error)
	// OnExit calls f (on a goroutine of its own choosing, which f must not
	// block) once the leader has exited; then Wait returns at once.
	OnExit(f func())
	// WaitGroupEmpty blocks, after the leader exited, until no other member
	// of the group is left; OnGroupEmpty calls f (which must not block)
	// then, without a goroutine of the caller's. GroupGone tells without
	// waiting, when it is known already (false: not known).
	WaitGroupEmpty(ctx context.Context) error
	OnGroupEmpty(f func())
	GroupGone() bool
	// Release reaps the leader and frees the process handle.
	Release() error
}

// StatusSink receives observed state; *status.Writer is the daemon's.
type StatusSink interface {
	// Update gets a status built for it: the reconciler never changes it
	// afterwards, so the sink may keep it without a copy.
	Update(st status.ProgramStatus)
	Event(ev status.Event)
	Delete(name string)
}

// ProbeBuilder builds the probe of one instance: OSStarter is one. It is
// called before the instance's process starts; an error fails the start.
type ProbeBuilder interface {
	BuildProbe(p *spec.Program, index int, probe *spec.Probe) (health.Prober, error)
}
