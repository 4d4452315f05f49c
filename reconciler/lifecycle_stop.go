package reconciler

import (
	"syscall"
	"time"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

// The lifecycle's stops: the stop signal (after preStop, see
// lifecycle_prestop.go), a restart of one instance, and the end of a
// stopped group.

// stopProcess sends the stop signal to the group and arms the SIGKILL timer.
func (t *step) stopProcess(why stopReason) {
	sig, name := t.spec.Spec.StopSignal.Number, t.spec.Spec.StopSignal.Name
	if t.w.shutdown && t.w.shutdownSignal != 0 {
		sig, name = t.w.shutdownSignal, proc.SignalName(t.w.shutdownSignal)
	}
	t.stopWith(why, sig, "sent "+name+" to the process group")
}

// stopWith sends sig to the group, saying so with msg, and arms the SIGKILL
// timer.
func (t *step) stopWith(why stopReason, sig syscall.Signal, msg string) {
	t.emit(effCancelTimer{})
	t.to(phStopping)
	t.stop = why
	if t.preStopFirst(sig, msg) {
		return
	}
	t.event(status.EventNormal, "Stopping", msg, t.pid)
	t.emit(effSignal{sig})
	t.emit(effArmTimer{t.spec.Spec.StopTimeout})
}

// restart stops a process to start it again once its group is gone (force:
// with SIGKILL), or starts at once an instance that has none (BACKOFF,
// EXITED, FATAL; a FATAL one with fresh counters, as after an edit). Other
// phases, and an instance without a target, are left alone: the program
// refuses those before asking.
func (t *step) restart(force bool) {
	switch t.phase {
	case phStarting, phRunning:
		if force {
			t.stopWith(stopRestart, syscall.SIGKILL, "restart requested: sent KILL to the process group")
		} else {
			sig := t.spec.Spec.StopSignal
			t.stopWith(stopRestart, sig.Number, "restart requested: sent "+sig.Name+" to the process group")
		}
	case phBackoff, phExited, phFatal, phFatalRetry:
		if t.target == nil || t.w.shutdown {
			return
		}
		t.emit(effCancelTimer{})
		t.spawn(t.targetHash != t.hash || t.phase == phFatal || t.phase == phFatalRetry)
	}
}

// groupGone: the leader's group is empty. With its preStop hook still
// running the instance waits for the hook's end (preStopDone).
func (t *step) groupGone() {
	if t.phase != phDraining {
		return
	}
	if !t.preStopEmptied() {
		t.groupEnded()
	}
}

// groupEnded moves a draining instance on: STOPPED, or what the restart
// policy says after a liveness failure.
func (t *step) groupEnded() {
	t.emit(effCancelTimer{})
	t.emit(effRelease{})
	e := t.lastExit
	if unhealthy := t.stop == stopUnhealthyStarting || t.stop == stopUnhealthyRunning; unhealthy &&
		e != nil && t.target != nil && t.targetHash == t.hash && !t.w.shutdown {
		// Stopped because the liveness probe failed: the restart policy
		// decides what comes next, as after any exit (a failed start before
		// startSeconds, back-off, FATAL, EXITED under Never).
		facts := exitFacts{code: e.Code, signal: e.Signal, ranFor: time.Duration(e.RanFor), started: t.stop == stopUnhealthyRunning, failures: t.failures}
		t.stop = stopNone
		t.afterExit(facts, "liveness probe failed", t.now)
		return
	}
	pid := t.pid
	t.pid, t.stop = 0, stopNone
	t.to(phStopped)
	msg := "stopped"
	if e != nil {
		msg = "stopped: " + describeExit(e.Code, e.Signal)
	}
	t.event(status.EventNormal, "Stopped", msg, pid)
}
