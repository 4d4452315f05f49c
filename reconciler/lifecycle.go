package reconciler

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// life is what the lifecycle decides about one instance: plain data, no
// handles. transition is the only function that changes it; the program's
// executor (execute.go) carries out the effects it returns.
//
// It is kept small (an instance holds one, a program thousands): the
// one-byte fields together first, what only some stops need behind a
// pointer.
type life struct {
	phase phase
	// stop says why the instance is STOPPING (stopping, draining).
	stop stopReason

	// Probes of the current process.
	hasReadiness bool // its spec has a readiness probe
	probeReady   bool // the readiness probe's verdict is passing
	wasReady     bool // ready() as last reported by an event
	everReady    bool // the current process has been ready (rollout progress)
	// The probes' last verdicts about the current process (health).
	readyVerdict, liveVerdict verdict

	// target is the spec the planner wants this instance to run; nil: none.
	target     *spec.Program
	targetHash string

	// spec and hash are those of the current (or last) process.
	spec *spec.Program
	hash string
	gen  int // counts processes: news of an earlier one is dropped

	pid       int
	startedAt *time.Time // nil before the first start; replaced, never changed
	restarts  int
	failures  int // consecutive failed starts
	crashes   int // restarts since the restart delay was last reset
	lastExit  *status.Exit
	recent    *[]status.Exit // the last exits, newest first; replaced, never changed
	nextRetry time.Time
	message   string
	// depEpoch is the count of lost dependencies (lostView.epoch) when the
	// current process was spawned.
	depEpoch uint64

	// preStop is set while the preStop hook of a stop runs; nil: none
	// does. Replaced, never changed: a life is copied by value.
	preStop *preStopWait
}

// stopReason says why an instance is being stopped.
type stopReason uint8

const (
	stopNone   stopReason = iota
	stopWanted            // no target, or a target of another spec: it ends in STOPPED
	// The liveness probe failed: once stopped, the restart policy decides,
	// as after any exit, judging a start that had (or had not) reached
	// RUNNING.
	stopUnhealthyStarting
	stopUnhealthyRunning
	// Asked to restart (reconciled restart NAME-i): it ends in STOPPED,
	// and the next drive starts it again, as one of stopWanted does once
	// its target is back.
	stopRestart
)

// world is what the program tells the lifecycle besides the event.
type world struct {
	shutdown bool // the daemon is stopping: start nothing new
	// shutdownSignal, at shutdown, replaces the spec's stop signal; 0: none.
	shutdownSignal syscall.Signal
	waiting        string        // unmet dependencies ("" when all are met)
	lost           lostView      // lost dependencies (lost.go)
	cur            *spec.Program // the program's newest valid spec
	curHash        string
}

// The events the lifecycle takes. The executor drops news about an earlier
// process or timer (generations) before it gets here.
type (
	// evDrive: move towards the target (after the planner set it).
	evDrive struct{}
	// evSpawned: the Start asked for by effSpawn returned.
	evSpawned struct {
		pid          int
		err          error
		at           time.Time
		hasReadiness bool
	}
	// evExited: the process's leader exited (not yet reaped).
	evExited struct {
		code      int // -1 when killed by a signal or not known
		signal    string
		at        time.Time
		oomKilled bool // the OOM killer killed it (told by its cgroup)
	}
	// evGroupGone: after the leader exited, the rest of its group is gone.
	evGroupGone struct{ at time.Time }
	// evTimer: the timer armed by effArmTimer fired.
	evTimer struct{}
	// evProbe: a probe's verdict changed.
	evProbe struct {
		liveness, passing bool
		why               string
	}
	// evEdited: the manifest was edited (even without a new hash): a FATAL
	// instance may start again.
	evEdited struct{}
	// evRestart: restart now, as asked through the control socket
	// (reconciled restart NAME-i); force: SIGKILL instead of stopSignal.
	evRestart struct{ force bool }
	// evPreStopDone: the preStop hook ended (err: how it failed).
	evPreStopDone struct{ err error }
)

// The effects the executor carries out, in order.
type (
	// effSpawn starts process gen of prog; its result comes back as evSpawned.
	effSpawn struct {
		gen  int
		prog *spec.Program
	}
	// effWatch asks for evExited when the process's leader exits.
	effWatch struct{}
	// effStartProbes runs the probes built with the spawn; effStopProbes
	// ends them.
	effStartProbes struct{}
	effStopProbes  struct{}
	// effSignal sends sig to the process group, in the order asked.
	effSignal struct{ sig syscall.Signal }
	// effArmTimer replaces the instance's timer; effCancelTimer drops it.
	effArmTimer    struct{ d time.Duration }
	effCancelTimer struct{}
	// effAwaitGroup asks for evGroupGone once the leader's group is empty.
	effAwaitGroup struct{}
	// effRelease reaps the stopped leader and lets the process go.
	effRelease struct{}
	// effRetire lets go of a process whose leader exited unasked: what is
	// left of its group gets sig, then SIGKILL after timeout, then the
	// leader is reaped, all in the background.
	effRetire struct {
		sig     syscall.Signal
		timeout time.Duration
	}
	// effEvent records an event about the instance.
	effEvent struct {
		typ, reason, message string
		pid                  int
		exit                 *status.Exit // the exit an Exited event reports
		// oncePer, when set, makes it a program's event: sent once until
		// an instance of the program starts again (a limit reached).
		oncePer string
	}
	// effProgress: a new instance became ready, the rollout progressed.
	effProgress struct{}
	// effPreStop runs the preStop hook, bounded by timeout; its end comes
	// back as evPreStopDone.
	effPreStop struct{ timeout time.Duration }
)

// effect is one of the eff* types.
type effect any

// transition is the lifecycle, pure: (life, event, world, now) -> (life,
// effects). An event that does not apply in the current phase (news that
// came too late) changes nothing. A move the phase table does not allow is
// a bug: it is returned as an error, and l is returned unchanged.
func transition(l life, ev any, w world, now time.Time) (life, []effect, error) {
	t := &step{life: l, w: w, now: now, from: l.phase}
	switch ev := ev.(type) {
	case evDrive:
		t.drive()
	case evSpawned:
		t.spawned(ev)
	case evExited:
		t.exited(ev)
	case evGroupGone:
		t.groupGone()
	case evTimer:
		t.timer()
	case evProbe:
		t.probe(ev)
	case evEdited:
		if t.phase == phFatal {
			t.to(phFatalRetry)
		}
	case evPreStopDone:
		t.preStopDone(ev)
	case evRestart:
		t.restart(ev.force)
	default:
		return l, nil, fmt.Errorf("unknown lifecycle event %T", ev)
	}
	if t.err != nil {
		return l, nil, t.err
	}
	t.noteReady()
	return t.life, t.effs, nil
}

// step is one transition in the making.
type step struct {
	life
	w    world
	now  time.Time
	from phase
	effs []effect
	err  error
}

func (t *step) emit(e effect) { t.effs = append(t.effs, e) }

func (t *step) event(typ, reason, msg string, pid int) {
	t.emit(effEvent{typ: typ, reason: reason, message: msg, pid: pid})
}

// to moves to phase to, if the table allows it; the first illegal move
// fails the whole transition.
func (t *step) to(to phase) {
	if t.err != nil || t.phase == to {
		return
	}
	if !allowed(t.phase, to) {
		t.err = fmt.Errorf("illegal transition %s -> %s", t.phase, to)
		return
	}
	if t.phase.probing() && !to.probing() {
		t.emit(effStopProbes{})
		t.probeReady = false
	}
	t.phase = to
}

// drive moves the instance one step towards its target.
func (t *step) drive() {
	switch t.phase {
	case phStarting, phRunning:
		if t.target == nil && t.w.cur != nil && t.w.curHash == t.hash {
			// No longer wanted (stopped, scaled down, shutting down): the
			// stop goes by the manifest's stop settings as they are now,
			// even when the same edit changed them.
			t.spec = t.w.cur
		}
		if t.target == nil || t.targetHash != t.hash {
			t.stopProcess(stopWanted)
			return
		}
		t.spec = t.target // supervision settings apply in place
		t.lostDependency()
	case phBackoff:
		switch {
		case t.target == nil:
			t.emit(effCancelTimer{})
			t.to(phStopped)
		case t.targetHash != t.hash && !t.w.shutdown:
			t.emit(effCancelTimer{})
			t.spawn(true)
		case t.depEpoch < t.w.lost.stop:
			// onLost: stop: no restart while the dependency is lost.
			t.emit(effCancelTimer{})
			t.spec = t.target
			t.to(phStopped)
			t.message = t.w.waiting
		default:
			t.spec = t.target
		}
	case phExited, phFatal, phFatalRetry:
		switch {
		case t.target == nil:
			t.to(phStopped)
		case (t.targetHash != t.hash || t.phase == phFatalRetry) && !t.w.shutdown:
			t.spawn(true)
		default:
			t.spec = t.target
		}
	case phStopped:
		switch {
		case t.target == nil:
			if t.message != "" && t.message == t.w.waiting {
				t.message = ""
			}
		case t.w.shutdown:
			// shutting down, held back for dependents: start nothing new
		case t.w.waiting != "":
			t.message = t.w.waiting
		default:
			t.spawn(t.targetHash != t.hash)
		}
	}
	// spawning: acted on when the spawn reports back; stopping, draining:
	// when the group is gone.
}

// spawn starts the target spec; fresh resets the counters (a new spec).
func (t *step) spawn(fresh bool) {
	if fresh {
		t.restarts, t.failures = 0, 0
	}
	t.spec, t.hash = t.target, t.targetHash
	t.depEpoch = t.w.lost.epoch
	t.gen++
	t.pid, t.message = 0, ""
	t.nextRetry = time.Time{}
	t.stop = stopNone
	t.emit(effStopProbes{})
	t.probeReady = false
	t.to(phSpawning)
	t.emit(effSpawn{gen: t.gen, prog: t.spec})
}

func (t *step) spawned(ev evSpawned) {
	if t.phase != phSpawning {
		return
	}
	if ev.err != nil {
		var le *LimitError
		if errors.As(ev.err, &le) {
			t.limited(le, ev.at)
			return
		}
		t.afterExit(exitFacts{code: 127, failures: t.failures}, startFailure(ev.err), ev.at)
		return
	}
	at := ev.at
	t.pid, t.startedAt = ev.pid, &at
	t.event(status.EventNormal, "Started", "started "+argv0(t.spec), t.pid)
	t.emit(effWatch{})
	t.everReady = false
	t.hasReadiness, t.probeReady = ev.hasReadiness, false
	t.readyVerdict, t.liveVerdict = verdictNone, verdictNone
	t.emit(effStartProbes{})
	if t.spec.Spec.StartSeconds <= 0 {
		t.becomeRunning()
		return
	}
	t.to(phStarting)
	t.emit(effArmTimer{t.spec.Spec.StartSeconds})
}

func (t *step) becomeRunning() {
	t.failures = 0
	if !t.hasReadiness || t.probeReady {
		t.message = ""
	}
	t.to(phRunning) // ready, unless a readiness probe holds it back
}

func (t *step) timer() {
	switch t.phase {
	case phStarting:
		t.becomeRunning()
	case phBackoff:
		if t.target != nil && !t.w.shutdown {
			t.restarts++
			t.spawn(false)
		}
	case phStopping, phDraining:
		s := t.spec.Spec
		t.preStopKilled()
		t.emit(effSignal{syscall.SIGKILL})
		t.event(status.EventWarning, "Killed", fmt.Sprintf("still running %v after %s: sent SIGKILL to the process group", s.StopTimeout, s.StopSignal.Name), t.pid)
	}
}

func (t *step) exited(ev evExited) {
	if !t.phase.hasLeader() {
		return
	}
	ranFor := ev.at.Sub(*t.startedAt)
	t.lastExit = &status.Exit{Code: ev.code, Signal: ev.signal, At: ev.at, RanFor: status.Duration(ranFor)}
	if ev.oomKilled {
		t.lastExit.Reason = reasonOOMKilled
		t.event(status.EventWarning, reasonOOMKilled, "killed by the OOM killer: out of memory in its cgroup"+memoryLimit(t.spec), t.pid)
	}
	recent := make([]status.Exit, 0, recentExitsKept)
	recent = append(recent, *t.lastExit)
	if t.recent != nil {
		recent = append(recent, (*t.recent)[:min(len(*t.recent), recentExitsKept-1)]...)
	}
	t.recent = &recent
	if t.phase == phStopping {
		t.to(phDraining)
		t.emit(effAwaitGroup{})
		return
	}
	// Supervision settings of a newer spec of the same hash apply to this
	// exit even if no pass has retargeted the instance since it was read.
	if t.w.cur != nil && t.w.curHash == t.hash {
		t.spec = t.w.cur
	}
	// Nobody asked for this exit. Whatever the leader left in its group is
	// stopped in the background; the instance moves on at once.
	t.emit(effRetire{sig: t.spec.Spec.StopSignal.Number, timeout: t.spec.Spec.StopTimeout})
	t.emit(effCancelTimer{})
	started := t.phase == phRunning
	t.afterExit(exitFacts{code: ev.code, signal: ev.signal, ranFor: ranFor, started: started, failures: t.failures}, "", ev.at)
}

// afterExit applies the restart policy after an exit or a failed spawn.
func (t *step) afterExit(facts exitFacts, why string, now time.Time) {
	if facts.ranFor >= t.spec.Spec.BackoffResetAfter {
		t.crashes = 0 // it ran long enough: the delay starts again
	}
	facts.crashes = t.crashes
	d := decideExit(&t.spec.Spec, facts)
	if why != "" {
		d.message = why + "; " + d.message
	}
	t.failures = d.failures
	if d.next == Backoff || d.next == Starting {
		t.crashes = d.crashes
	}
	kind := status.EventWarning
	if facts.signal == "" && facts.code == 0 {
		kind = status.EventNormal
	}
	pid := t.pid
	t.pid = 0
	t.emit(effEvent{typ: kind, reason: "Exited", pid: pid,
		message: describeExit(facts.code, facts.signal) + fmt.Sprintf(" after %v", facts.ranFor.Round(time.Millisecond)),
		exit:    &status.Exit{Code: facts.code, Signal: facts.signal, At: now, RanFor: status.Duration(facts.ranFor)}})
	if t.w.shutdown && d.next != Fatal {
		d.next = Exited // held at shutdown for dependents: start nothing new
	}
	switch d.next {
	case Starting:
		t.restarts++
		t.spawn(false)
	case Backoff:
		t.to(phBackoff)
		t.message = d.message
		t.nextRetry = now.Add(d.delay)
		t.emit(effArmTimer{d.delay})
		if d.reason == "BackOff" {
			t.event(status.EventWarning, "BackOff", fmt.Sprintf("%s; restarting in %v", d.message, d.delay), 0)
		}
	case Fatal:
		t.to(phFatal)
		t.message = d.message
		t.event(status.EventWarning, "Fatal", d.message, 0)
	case Exited:
		t.to(phExited)
		t.message = d.message
	}
}

// limited: a limit of the daemon or the host stopped the start. That is
// not the program's failure: no startRetries count, no Exited event; the
// instance waits in BACKOFF (the crash-loop delay, at least
// limitRetryDelay so that a restartDelay of 0 does not spin) and tries
// again, and the program reports the limit once.
func (t *step) limited(le *LimitError, now time.Time) {
	t.pid = 0
	t.message = "start failed: " + le.Error()
	if t.w.shutdown {
		t.to(phExited) // as afterExit: nothing new starts at shutdown
		return
	}
	base := max(t.spec.Spec.RestartDelay, limitRetryDelay)
	t.crashes++
	delay := backoffDelay(base, max(t.spec.Spec.MaxRestartDelay, base), t.crashes)
	t.to(phBackoff)
	t.nextRetry = now.Add(delay)
	t.emit(effArmTimer{delay})
	t.emit(effEvent{typ: status.EventWarning, reason: ReasonResourceLimit, oncePer: le.Limit,
		message: "a start failed: " + le.Error() + "; the instances wait in BACKOFF and retry"})
}

// limitRetryDelay is the shortest wait before a start that a limit stopped
// is tried again.
const limitRetryDelay = 100 * time.Millisecond

// reasonOOMKilled is the lastExit.reason and event reason of an OOM kill.
const reasonOOMKilled = "OOMKilled"

// memoryLimit says the spec's memory limit, if it has one.
func memoryLimit(p *spec.Program) string {
	if m := p.Spec.Resources.Memory; m > 0 {
		return fmt.Sprintf(" (resources.memory %d bytes)", m)
	}
	return ""
}

// state is the phase as users see it.
func (l *life) state() State { return l.phase.state() }

// live reports whether the instance has, or is getting, a process.
func (l *life) live() bool { return l.phase.live() }

// ready reports whether the instance serves: RUNNING, and its readiness
// probe (if it has one) passes.
func (l *life) ready() bool {
	return l.phase == phRunning && (!l.hasReadiness || l.probeReady)
}
