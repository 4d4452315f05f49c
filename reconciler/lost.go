package reconciler

// Lost dependencies (dependsOn[].onLost): what happens to a dependent's
// instances that started while a dependency met its condition, once it no
// longer does. The graph numbers each loss (depends.go); an instance keeps
// the count at the start of its process (life.depEpoch), so that "started
// before the latest loss" is one comparison, and a loss that was over
// before the dependent looked still counts. The lifecycle acts on it
// (lostDependency in lifecycle.go):
//
//	dependency  met ......... lost ...................... met again .........
//	ignore      running ............................................ (today's behaviour)
//	stop        running  --> STOPPING --> STOPPED "waiting for db: ..." --> STARTING
//	restart     running ............................... --> STOPPING --> STARTING
//
// Under stop an instance in BACKOFF goes to STOPPED too (it would start
// while the dependency is lost); under both, EXITED and FATAL instances are
// left alone. A loss that is over before the dependent looks (the
// dependency restarted quickly) stops and starts the instances under stop,
// and restarts them under restart: either way they start after it.

import (
	"fmt"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// lostView is what the lifecycle knows of lost dependencies.
type lostView struct {
	// epoch is the graph's count of losses when the program last looked:
	// a process spawned now is newer than each of them.
	epoch uint64
	// stop and restart are the number of the latest loss of a dependency
	// whose onLost is stop (restart), counted since that policy applies; 0:
	// none. An instance whose process is older (depEpoch < stop) is
	// stopped; one older than restart is restarted once every dependency
	// is met.
	stop, restart uint64
}

// lostMark is what a program made of one dependency's losses.
type lostMark struct {
	// dep is the dependency as the mark was made: a new condition or
	// policy starts a new mark.
	dep spec.Dependency
	// base: losses up to this number happened before the policy applied;
	// they concern no instance.
	base uint64
	// told is the latest loss a DependencyLost event was recorded for.
	told uint64
}

// noteLost updates the marks of the dependencies deps from look, records a
// DependencyLost event for each new loss that concerns an instance, and
// returns what the lifecycle needs to know.
func (p *program) noteLost(deps []spec.Dependency, look depLook) lostView {
	v := lostView{epoch: look.epoch}
	for i, d := range deps {
		if d.OnLost != spec.LostStop && d.OnLost != spec.LostRestart {
			delete(p.lostMarks, d.Program)
			continue
		}
		at := look.lostAt[i]
		m, ok := p.lostMarks[d.Program]
		if !ok || m.dep != d {
			m = lostMark{dep: d, base: at, told: at}
		}
		if at > m.base {
			if d.OnLost == spec.LostStop {
				v.stop = max(v.stop, at)
			} else {
				v.restart = max(v.restart, at)
			}
		}
		if at > m.told {
			m.told = at
			p.tellLost(d, at, look.why[i])
		}
		if p.lostMarks == nil {
			p.lostMarks = map[string]lostMark{}
		}
		p.lostMarks[d.Program] = m
	}
	for name := range p.lostMarks {
		if !dependsOn(deps, name) {
			delete(p.lostMarks, name)
		}
	}
	return v
}

func dependsOn(deps []spec.Dependency, name string) bool {
	for _, d := range deps {
		if d.Program == name {
			return true
		}
	}
	return false
}

// tellLost records the DependencyLost event of loss number at of d, which
// is not met now for why ("" when it is met again), if the loss concerns an
// instance.
func (p *program) tellLost(d spec.Dependency, at uint64, why string) {
	n := 0
	for _, in := range p.instances {
		if in.depEpoch < at && lostConcerns(in.phase, d.OnLost) {
			n++
		}
	}
	if n == 0 {
		return
	}
	what := fmt.Sprintf("%s is no longer %s (%s)", d.Program, d.Condition, why)
	if why == "" {
		what = fmt.Sprintf("%s was not %s for a while", d.Program, d.Condition)
	}
	var msg string
	switch {
	case d.OnLost == spec.LostStop && why != "":
		msg = fmt.Sprintf("%s: stopping %s until it is %s again (onLost: stop)", what, instances(n), d.Condition)
	case d.OnLost == spec.LostRestart && why != "":
		msg = fmt.Sprintf("%s: %s restart once it is %s again (onLost: restart)", what, instances(n), d.Condition)
	default:
		msg = fmt.Sprintf("%s: restarting %s (onLost: %s)", what, instances(n), d.OnLost)
	}
	p.event("", 0, status.EventWarning, "DependencyLost", msg)
}

// lostConcerns reports whether a loss under policy concerns an instance in
// phase ph (see the timeline above).
func lostConcerns(ph phase, policy spec.LostPolicy) bool {
	switch ph {
	case phSpawning, phStarting, phRunning:
		return true
	case phBackoff:
		return policy == spec.LostStop
	}
	return false
}

func instances(n int) string {
	if n == 1 {
		return "1 instance"
	}
	return fmt.Sprintf("%d instances", n)
}

// lostDependency stops the process of an instance that started before a
// dependency was lost (lost.go): at once under onLost stop (it ends in
// STOPPED and starts again once the dependencies are met), once every
// dependency is met again under restart.
func (t *step) lostDependency() {
	if t.w.shutdown {
		return
	}
	sig := t.spec.Spec.StopSignal
	switch {
	case t.depEpoch < t.w.lost.stop:
		t.stopWith(stopWanted, sig.Number, "dependency lost (onLost: stop): sent "+sig.Name+" to the process group")
	case t.depEpoch < t.w.lost.restart && t.w.waiting == "":
		t.stopWith(stopRestart, sig.Number, "dependency back (onLost: restart): sent "+sig.Name+" to the process group")
	}
}
