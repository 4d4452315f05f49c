package reconciler

import (
	"fmt"
	"time"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/status"
)

// ConditionFlapping is the program condition that says an instance
// restarts too often (spec.flapping).
const ConditionFlapping = "Flapping"

// flapWatch tells when a program flaps: an instance restarted
// spec.flapping.restarts times within spec.flapping.window. It costs
// nothing per restart beyond a short list per instance, and a timer only
// while the program flaps (for the window without restarts that ends it).
type flapWatch struct {
	restarts map[int][]time.Time // per instance, its recent restarts, oldest first
	flapping bool
	last     time.Time // the last restart of any instance
	timer    clock.Timer
	gen      int // counts timers: a cancelled one's message is dropped
}

// flapDue is the message of the window timer.
type flapDue struct{ gen int }

// restarted records a restart of instance idx at now.
func (p *program) restarted(idx int, now time.Time) {
	f, cfg := &p.flap, p.cur.prog.Spec.Flapping
	if cfg.Restarts <= 0 {
		p.flapEnd(now, "") // turned off
		return
	}
	if f.restarts == nil {
		f.restarts = map[int][]time.Time{}
	}
	ts := f.restarts[idx]
	for len(ts) > 0 && now.Sub(ts[0]) >= cfg.Window {
		ts = ts[1:]
	}
	if len(ts) >= cfg.Restarts {
		ts = ts[1:]
	}
	ts = append(ts, now)
	f.restarts[idx] = ts
	f.last = now
	if !f.flapping && len(ts) >= cfg.Restarts {
		f.flapping = true
		msg := fmt.Sprintf("%s-%d restarted %d times within %v", p.name, idx, len(ts), cfg.Window)
		p.event(fmt.Sprintf("%s-%d", p.name, idx), 0, status.EventWarning, "Flapping", msg)
		p.conditions = status.SetCondition(p.conditions, status.Condition{Type: ConditionFlapping,
			Status: status.ConditionTrue, Reason: "Flapping", Message: msg}, now)
	}
	if f.flapping {
		p.armFlap(cfg.Window)
	}
}

// armFlap (re)arms the timer for a window from now without restarts.
func (p *program) armFlap(window time.Duration) {
	f := &p.flap
	if f.timer != nil {
		f.timer.Stop()
	}
	f.gen++
	gen := f.gen
	f.timer = p.clock.AfterFunc(window, func() { p.post(flapDue{gen: gen}) })
}

// flapTimer handles the window timer: a whole window without restarts ends
// the flapping.
func (p *program) flapTimer(m flapDue) {
	f := &p.flap
	if m.gen != f.gen || !f.flapping || p.cur.prog == nil {
		return
	}
	f.timer = nil
	window, now := p.cur.prog.Spec.Flapping.Window, p.clock.Now()
	if wait := f.last.Add(window).Sub(now); wait > 0 {
		p.armFlap(wait)
		return
	}
	p.flapEnd(now, fmt.Sprintf("no restart for %v", window))
}

// flapEnd ends the flapping, if any, with a Stable event saying why ("":
// flapping detection was turned off).
func (p *program) flapEnd(now time.Time, why string) {
	f := &p.flap
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	f.gen++
	if !f.flapping {
		return
	}
	f.flapping = false
	if why == "" {
		why = "flapping detection turned off"
	}
	p.event("", 0, status.EventNormal, "Stable", why)
	p.conditions = status.SetCondition(p.conditions, status.Condition{Type: ConditionFlapping,
		Status: status.ConditionFalse, Reason: "Stable", Message: why}, now)
	p.dirty = true
}

// newFlapWindow starts a new window after an edit of the spec: restarts
// before it no longer count (the flapping, if any, ends only after a
// window without restarts).
func (p *program) newFlapWindow() {
	clear(p.flap.restarts)
}
