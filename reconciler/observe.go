package reconciler

import (
	"fmt"
	"time"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// publish builds the status after a change, at most once per publishEvery:
// a change within that time is published by a trailing timer.
func (p *program) publish() {
	if !p.dirty || p.publishTimer {
		return
	}
	now := p.clock.Now()
	if wait := p.publishEvery - now.Sub(p.lastPublish); wait > 0 {
		p.publishTimer = true
		p.clock.AfterFunc(wait, func() { p.post(publishDue{}) })
		return
	}
	p.publishNow()
}

// publishNow builds and hands over the status at once.
func (p *program) publishNow() {
	p.dirty = false
	p.lastPublish = p.clock.Now()
	p.sink.Update(p.observe())
}

// observe summarises the program: counts, phase and conditions.
func (p *program) observe() status.ProgramStatus {
	now := p.clock.Now()
	want := p.want()
	st := status.Status{SpecHash: p.cur.hash, Replicas: want, Desired: string(spec.DesiredStopped), Containment: string(p.containment)}
	if d := p.cur; d.prog != nil && !d.deleted && !d.shutdown {
		st.Desired = string(d.prog.Spec.Desired)
	}
	insts, c := p.observedInstances(want)
	st.Instances = insts
	st.ReadyReplicas, st.UpdatedReplicas = c.ready, c.updated
	fatal, alive, excess, outdated, fresh, waiting := c.fatal, c.alive, c.excess, c.outdated, c.fresh, c.waiting
	progressing := excess > 0 || outdated > 0 || fresh > 0 || waiting > 0
	exceeded := p.progressDeadline(progressing && waiting == 0, now)
	completed := p.completed(want)
	switch {
	case want == 0 && alive == 0:
		st.Phase = "Stopped"
	case fatal > 0:
		st.Phase = "Failed"
	case completed:
		st.Phase = "Completed"
	case progressing && !exceeded:
		st.Phase = "Progressing"
	case st.ReadyReplicas < want, exceeded:
		st.Phase = "Degraded"
	default:
		st.Phase = "Running"
	}

	minReady := want
	if p.cur.prog != nil && p.cur.prog.Spec.UpdateStrategy.Type == spec.RollingUpdate {
		minReady = max(0, want-p.cur.prog.Spec.UpdateStrategy.MaxUnavailable)
	}
	avail := status.Condition{Type: status.ConditionAvailable, Status: status.ConditionTrue, Reason: "MinimumReplicasReady",
		Message: fmt.Sprintf("%d/%d ready", st.ReadyReplicas, want)}
	if st.ReadyReplicas < minReady && !completed {
		avail.Status, avail.Reason = status.ConditionFalse, "MinimumReplicasUnavailable"
	}
	prog := status.Condition{Type: status.ConditionProgressing, Status: status.ConditionFalse, Reason: "Complete"}
	switch {
	case outdated > 0:
		prog.Status, prog.Reason = status.ConditionTrue, "RollingUpdate"
		prog.Message = fmt.Sprintf("%d/%d instances updated", st.UpdatedReplicas, want)
	case waiting > 0:
		prog.Status, prog.Reason = status.ConditionTrue, "WaitingForDependencies"
		prog.Message = p.waiting
	case excess > 0 || fresh > 0:
		prog.Status, prog.Reason = status.ConditionTrue, "Scaling"
		prog.Message = fmt.Sprintf("%d/%d ready", st.ReadyReplicas, want)
	}
	if exceeded {
		prog.Status, prog.Reason = status.ConditionFalse, "ProgressDeadlineExceeded"
		prog.Message = fmt.Sprintf("no instance became ready in %v", p.cur.prog.ProgressDeadline())
		if notReady := p.firstNotReady(); notReady != nil {
			prog.Message = fmt.Sprintf("%s not ready after %v", notReady.name(p.name), p.cur.prog.ProgressDeadline())
			if notReady.message != "" {
				prog.Message += ": " + notReady.message
			}
		}
		prog.Message += "; " + fmt.Sprintf("%d/%d instances updated", st.UpdatedReplicas, want)
	}
	if p.cur.prog != nil {
		p.conditions = status.SetCondition(p.conditions, avail, now)
		p.conditions = status.SetCondition(p.conditions, prog, now)
		if p.cur.prog.Spec.RestartPolicy != spec.RestartAlways {
			// A one-shot program, as a Kubernetes Job: Complete once every
			// instance exited with a success code.
			done := status.Condition{Type: status.ConditionComplete, Status: status.ConditionFalse, Reason: "InProgress"}
			if completed {
				done.Status, done.Reason = status.ConditionTrue, "AllSucceeded"
				done.Message = fmt.Sprintf("%d/%d succeeded", want, want)
			}
			p.conditions = status.SetCondition(p.conditions, done, now)
		}
	}
	st.Conditions = append([]status.Condition(nil), p.conditions...)
	st.UpdatedAt = now
	return status.ProgramStatus{Metadata: status.Metadata{Name: p.name}, Status: st}
}

// completed reports whether every wanted instance is a one-shot job that
// finished with success: such a program is done, not degraded.
func (p *program) completed(want int) bool {
	if want == 0 {
		return false
	}
	for i := range want {
		if in := p.instances[i]; in == nil || !in.succeeded() {
			return false
		}
	}
	return true
}

// progressDeadline reports whether the program has been progressing for
// longer than its progress deadline without progress, and otherwise keeps a
// timer armed for when it would be, so the status turns without polling.
func (p *program) progressDeadline(progressing bool, now time.Time) bool {
	if !progressing || p.cur.prog == nil {
		p.armDeadline(time.Time{})
		return false
	}
	at := p.progressAt.Add(p.cur.prog.ProgressDeadline())
	if !now.Before(at) {
		p.armDeadline(time.Time{})
		return true
	}
	p.armDeadline(at)
	return false
}

// armDeadline makes the deadline timer fire at at (none when at is zero).
func (p *program) armDeadline(at time.Time) {
	if at.Equal(p.deadlineAt) && (p.deadlineTimer != nil || at.IsZero()) {
		return
	}
	if p.deadlineTimer != nil {
		p.deadlineTimer.Stop()
		p.deadlineTimer = nil
	}
	p.deadlineAt = at
	if !at.IsZero() {
		p.deadlineTimer = p.clock.AfterFunc(at.Sub(p.clock.Now()), func() { p.post(deadlineDue{}) })
	}
}
