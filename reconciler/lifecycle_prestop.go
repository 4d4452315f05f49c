package reconciler

import (
	"syscall"
	"time"

	"github.com/reconciled/reconciled/status"
)

// preStopWait is a stop that runs preStop first: when it began, and the
// signal (and its event's message) that goes out once preStop has ended.
// The instance is not STOPPED before the hook has ended, which without
// cgroups runs in a process group of its own.
type preStopWait struct {
	at  time.Time
	sig syscall.Signal
	msg string
	// killed: SIGKILL went out meanwhile, and no signal waits for the
	// hook; emptied: the leader's group emptied meanwhile.
	killed, emptied bool
}

// minKillAfterSignal is the least time between the stop signal and
// SIGKILL when preStop took most of stopTimeout.
const minKillAfterSignal = 2 * time.Second

// preStopFirst starts a stop with the spec's preStop hook, when it has
// one and the stop is not a SIGKILL: sig (and the Stopping event saying
// msg) waits until it ends, at most its timeout; stopTimeout counts from
// now, as Kubernetes's grace period does. It reports whether it did.
func (t *step) preStopFirst(sig syscall.Signal, msg string) bool {
	if t.spec.Spec.Lifecycle.PreStop == nil || sig == syscall.SIGKILL {
		return false
	}
	t.preStop = &preStopWait{at: t.now, sig: sig, msg: msg}
	t.emit(effPreStop{timeout: t.spec.Spec.PreStopTimeout()})
	t.emit(effArmTimer{t.spec.Spec.StopTimeout})
	return true
}

// preStopDone sends the stop signal that waited for preStop, and moves
// SIGKILL to at least minKillAfterSignal after it. If the leader exited
// meanwhile, the signal goes to what is left of its group, and an instance
// whose group is gone already is STOPPED now.
func (t *step) preStopDone(ev evPreStopDone) {
	ps := t.preStop
	if ps == nil {
		return
	}
	t.preStop = nil
	if t.phase != phStopping && t.phase != phDraining {
		return
	}
	if ev.err != nil && !ps.killed {
		t.event(status.EventWarning, "PreStopFailed", ev.err.Error()+"; stopping all the same", t.pid)
	}
	switch {
	case ps.emptied:
		t.groupEnded()
	case ps.killed:
		// killed with the rest: its end changes nothing
	default:
		t.event(status.EventNormal, "Stopping", ps.msg, t.pid)
		t.emit(effSignal{ps.sig})
		if left := ps.at.Add(t.spec.Spec.StopTimeout).Sub(t.now); left < minKillAfterSignal {
			t.emit(effArmTimer{minKillAfterSignal})
		}
	}
}

// preStopKilled notes that SIGKILL went out while the hook runs.
func (t *step) preStopKilled() {
	if t.preStop != nil {
		ps := *t.preStop
		ps.killed = true
		t.preStop = &ps
	}
}

// preStopEmptied notes that the leader's group emptied while the hook
// runs; it reports whether the hook runs.
func (t *step) preStopEmptied() bool {
	if t.preStop == nil {
		return false
	}
	ps := *t.preStop
	ps.emptied = true
	t.preStop = &ps
	return true
}
