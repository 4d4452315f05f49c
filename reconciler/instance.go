package reconciler

import (
	"slices"
	"strconv"
	"time"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// instance is one replica of a program. Only its program's goroutine touches
// it. Messages about it carry a generation: gen counts its processes and
// timerGen its timers, so that news of an earlier process or a cancelled
// timer is recognised and dropped.
type instance struct {
	idx   int
	state State

	// target is the spec the program wants this instance to run; nil: none.
	target     *spec.Program
	targetHash string

	// spec and hash are those of the current (or last) process.
	spec *spec.Program
	hash string

	gen          int
	spawning     bool // a Start is in flight
	proc         Process
	pid          int
	leaderExited bool
	startedAt    *time.Time // nil before the first start; replaced, never changed

	timer    Timer
	timerGen int

	restarts  int
	failures  int  // consecutive failed starts
	retry     bool // FATAL, and the manifest was edited since: start again
	lastExit  *status.Exit
	nextRetry time.Time
	message   string
	fullName  string // NAME-i, once name has been called

	// Probes of the current process.
	probeCancel      func() // ends its probe workers; nil: none run
	hasReadiness     bool   // its spec has a readiness probe
	probeReady       bool   // the readiness probe's verdict is passing
	wasReady         bool   // ready() as last reported by an event
	everReady        bool   // the current process has been ready (rollout progress)
	restartAfterStop bool   // the liveness probe failed: the restart policy decides once stopped
	unhealthyRunning bool   // ... and it was RUNNING then (else a failed start)
}

// name is NAME-i; program is always the same program's name.
func (in *instance) name(program string) string {
	if in.fullName == "" {
		in.fullName = program + "-" + strconv.Itoa(in.idx)
	}
	return in.fullName
}

// live reports whether the instance has, or is getting, a process.
func (in *instance) live() bool { return in.spawning || in.state.hasProcess() }

// ready reports whether the instance serves: RUNNING, and its readiness
// probe (if it has one) passes.
func (in *instance) ready() bool {
	return in.state == Running && (!in.hasReadiness || in.probeReady)
}

// succeeded reports whether the instance is a one-shot job that finished:
// EXITED with one of its success codes.
func (in *instance) succeeded() bool {
	if in.state != Exited || in.lastExit == nil || in.lastExit.Signal != "" {
		return false
	}
	return slices.Contains(in.spec.Spec.SuccessExitCodes, in.lastExit.Code)
}

func (in *instance) cancelTimer() {
	if in.timer != nil {
		in.timer.Stop()
		in.timer = nil
	}
	in.timerGen++
}

// observed is the instance as the status file shows it.
func (in *instance) observed(program string) status.Instance {
	o := status.Instance{
		Name:     in.name(program),
		Index:    in.idx,
		State:    string(in.state),
		Ready:    in.ready(),
		Pid:      in.pid,
		Restarts: in.restarts,
		SpecHash: in.hash,
		LastExit: in.lastExit,
		Message:  in.message,
	}
	if in.pid != 0 {
		o.StartedAt = in.startedAt // shared: a start sets a new one
	}
	if in.state == Backoff && !in.nextRetry.IsZero() {
		at := in.nextRetry
		o.NextRetryAt = &at
	}
	return o
}
