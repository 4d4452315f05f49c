package reconciler

import (
	"syscall"
	"time"

	"github.com/reconciled/reconciled/status"
)

// preStopWait is a stop that runs preStop first: when it began, and the
// signal (and its event's message) that goes out once preStop has ended.
type preStopWait struct {
	at  time.Time
	sig syscall.Signal
	msg string
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
// SIGKILL to at least minKillAfterSignal after it.
func (t *step) preStopDone(ev evPreStopDone) {
	ps := t.preStop
	if t.phase != phStopping || ps == nil {
		return // the leader exited, or SIGKILL went out, meanwhile
	}
	t.preStop = nil
	if ev.err != nil {
		t.event(status.EventWarning, "PreStopFailed", ev.err.Error()+"; stopping all the same", t.pid)
	}
	t.event(status.EventNormal, "Stopping", ps.msg, t.pid)
	t.emit(effSignal{ps.sig})
	if left := ps.at.Add(t.spec.Spec.StopTimeout).Sub(t.now); left < minKillAfterSignal {
		t.emit(effArmTimer{minKillAfterSignal})
	}
}
