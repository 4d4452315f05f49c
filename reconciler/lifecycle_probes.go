package reconciler

import (
	"fmt"

	"github.com/reconciled/reconciled/status"
)

// The lifecycle and the probes: verdicts, readiness and health.

// verdict is a probe's last verdict: none yet, passing or failing.
type verdict int8

const (
	verdictNone verdict = iota
	verdictPass
	verdictFail
)

// recentExitsKept is how many exits an instance's status lists.
const recentExitsKept = 5

// The values of status.Instance.Health.
const (
	healthUnknown   = "Unknown"
	healthHealthy   = "Healthy"
	healthUnhealthy = "Unhealthy"
)

// health says how the probes judge the current process: "" when it has
// none (or no process is being probed), Unhealthy while one fails,
// Healthy once all pass, Unknown before that.
func (l *life) health() string {
	s := l.spec
	if s == nil || !l.phase.probing() || (s.Spec.ReadinessProbe == nil && s.Spec.LivenessProbe == nil) {
		return ""
	}
	switch {
	case l.readyVerdict == verdictFail || l.liveVerdict == verdictFail:
		return healthUnhealthy
	case (s.Spec.ReadinessProbe == nil || l.readyVerdict == verdictPass) && (s.Spec.LivenessProbe == nil || l.liveVerdict == verdictPass):
		return healthHealthy
	}
	return healthUnknown
}

// probe applies a probe's new verdict to the process it is about.
func (t *step) probe(ev evProbe) {
	if !t.phase.probing() {
		return
	}
	v := verdictFail
	if ev.passing {
		v = verdictPass
	}
	if ev.liveness {
		t.liveVerdict = v
		if ev.passing {
			return
		}
		t.event(status.EventWarning, "Unhealthy", "liveness probe failed: "+ev.why, t.pid)
		why := stopUnhealthyStarting
		if t.phase == phRunning {
			why = stopUnhealthyRunning
		}
		t.stopProcess(why)
		t.message = "liveness probe failed: " + ev.why
		return
	}
	t.probeReady, t.readyVerdict = ev.passing, v
	if ev.passing {
		t.message = ""
	} else {
		t.message = "readiness probe failed: " + ev.why
	}
}

// noteReady reports a change of ready() with a Ready or NotReady event.
// Losing readiness because the process stops or exits has events of its
// own; NotReady is for a RUNNING instance whose readiness probe fails.
func (t *step) noteReady() {
	ready := t.ready()
	if ready == t.wasReady {
		return
	}
	t.wasReady = ready
	if ready {
		t.everReady = true
		if t.hash == t.w.curHash {
			t.emit(effProgress{}) // a new instance is ready: progress
		}
		msg := fmt.Sprintf("running for %v", t.spec.Spec.StartSeconds)
		if t.hasReadiness {
			msg = "readiness probe passed"
		}
		t.event(status.EventNormal, "Ready", msg, t.pid)
		return
	}
	if t.phase == phRunning {
		t.event(status.EventWarning, "NotReady", t.message, t.pid)
	}
}
