package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// desired is the loop's latest word about one program. It replaces any
// earlier word that the program has not yet taken (latest wins).
type desired struct {
	prog     *spec.Program // the last valid spec; nil until there is one
	hash     string
	invalid  error // the file's current content is invalid; prog stays as it was
	deleted  bool  // the file is gone
	shutdown bool  // the daemon is stopping
	// shutdownSignal, at shutdown, is sent in place of every stop signal
	// (vagga's rule under an exit policy); 0: the spec's stop signal.
	shutdownSignal syscall.Signal
}

// programOptions are what every program shares with the daemon.
type programOptions struct {
	log     logr.Logger
	clock   clock.Clock
	starter ProcessStarter
	// probes builds readiness and liveness probes; nil: a spec with probes
	// fails to start.
	probes ProbeBuilder
	sink   StatusSink
	// deps is shared by all programs of the daemon (dependsOn); nil: none.
	deps *depGraph
	// spawnSlots bounds the Start calls in flight across the daemon.
	spawnSlots chan struct{}
	// publishEvery is the least time between two status builds (a storm of
	// 1000 exits then costs a few builds, not 1000); 0 builds after every pass.
	publishEvery time.Duration
	// containment is what the status says holds instances together.
	containment Containment
	// newHooks makes a program's hook runner (nil: hooks are not run), and
	// hookCtx tells the context its hooks run in.
	newHooks HookRunners
	hookCtx  HookContexter
	// onGone, when set, hears of a deleted program whose instances have
	// all stopped, from its goroutine, once it takes no more messages.
	onGone func(*program)
}

// program owns the instances of one program. Its goroutine (run) is the only
// one that touches their state; process exits, timers and finished spawns
// come to it as messages in a mailbox, and the loop's desired state through a
// latest-wins slot. Each pass applies every queued message, then reconciles
// once and publishes the status once, so a storm costs one status build.
type program struct {
	programOptions
	mailbox
	name string

	ctx  context.Context // the program's own life: waiters, timers, spawns
	stop context.CancelFunc
	wg   sync.WaitGroup // goroutines that post, and the backlogs' (releases, signals)
	done chan struct{}

	releases backlog[released]    // stopped leaders to reap
	signals  backlog[groupSignal] // stop signals and SIGKILLs to send
	spawns   spawnQueue           // starts waiting for a spawner

	eventLog    logr.Logger // log for event lines (eventLogger), once eventLogSet
	eventLogSet bool

	cur          desired
	instances    map[int]*instance
	order        []*instance // instances by index; nil when it must be rebuilt
	conditions   []status.Condition
	invalidMsg   string // the SpecInvalid message last reported
	lastReplicas int    // for Scaled events; -1 before the first spec
	dirty        bool
	lastPublish  time.Time
	publishTimer bool // a publishDue message is on its way

	// waiting says which dependencies are not met ("" when all are): a
	// STOPPED instance does not start until they are.
	waiting string
	// lost and lostMarks: lost dependencies (lost.go).
	lost      lostView
	lostMarks map[string]lostMark
	// progressAt is when the program last made progress (a new spec or
	// replica count, an instance becoming ready, dependencies met); the
	// progress deadline counts from it.
	progressAt    time.Time
	deadlineTimer clock.Timer
	deadlineAt    time.Time
	flap          flapWatch
	hooks         programHooks
	// limitsReported: the limits (LimitError.Limit) reported since an
	// instance last started (one ResourceLimit event each).
	limitsReported map[string]bool

	// A pass drives every instance only when something that decides their
	// targets may have changed: new desired state (full), the count wanted
	// (lastWant), dependencies (checkDependencies sets full), or a rollout
	// under way (!settled). Otherwise it drives only the instances that
	// messages were about (touched), so that a burst of 1000 spawns or
	// exits, a scale-down or a stop of all included, costs O(1) per message,
	// not O(instances). fullPasses counts the other passes (for tests).
	full       bool
	settled    bool
	lastWant   int
	touched    []int
	fullPasses atomic.Int64
	built      statusBuild // the last status build, for the next (statusbuild.go)
}

func newProgram(parent context.Context, name string, opts programOptions) *program {
	// The program outlives the daemon's context on purpose: at shutdown it
	// still has to stop its instances, so it is cancelled by run itself.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &program{
		programOptions: opts,
		name:           name,
		mailbox:        newMailbox(),
		ctx:            ctx,
		stop:           cancel,
		done:           make(chan struct{}),
		instances:      map[int]*instance{},
		lastReplicas:   -1,
	}
}

// The messages.
type (
	spawned struct {
		idx, gen int
		proc     Process
		probers  probers
		err      error
		at       time.Time
	}
	exited struct {
		idx, gen int
		status   proc.ExitStatus
		err      error
		at       time.Time
	}
	groupGone   struct{ idx, gen int }
	timerFired  struct{ idx, gen int }
	publishDue  struct{}
	deadlineDue struct{}
	signalReq   struct {
		index int // -1: every instance
		sig   syscall.Signal
		reply chan error
	}
)

func (p *program) run() {
	if p.deps != nil {
		p.deps.join(p.name, p.wake) // a linked program's change wakes this one
	}
	defer close(p.done)
	defer p.wg.Wait()
	defer p.stop()
	for {
		<-p.wake
		// Apply everything already queued before acting once.
		for p.take() {
		}
		p.reconcile()
		if p.finished() {
			return
		}
		p.publish()
	}
}

// take applies new desired state if any, then the queued messages. It
// reports whether there was anything. Desired state goes first, so that an
// exit taken together with the shutdown is judged under it: nothing is
// restarted once the shutdown is known.
func (p *program) take() bool {
	d, batch := p.mailbox.take()
	if d != nil {
		p.apply(*d)
	}
	for i, m := range batch {
		p.handle(m)
		p.handled(i)
	}
	return d != nil || len(batch) > 0
}

// apply records new desired state and reports what changed.
func (p *program) apply(d desired) {
	old := p.cur
	p.cur = d
	p.dirty = true
	p.full = true
	now := p.clock.Now()
	if d.invalid != nil {
		if msg := d.invalid.Error(); msg != p.invalidMsg {
			p.invalidMsg = msg
			p.event("", 0, status.EventWarning, "SpecInvalid", msg)
		}
		p.conditions = status.SetCondition(p.conditions, status.Condition{Type: status.ConditionSpecValid,
			Status: status.ConditionFalse, Reason: invalidReason(d.invalid), Message: d.invalid.Error()}, now)
	} else if d.prog != nil {
		p.invalidMsg = ""
		p.conditions = status.SetCondition(p.conditions, status.Condition{Type: status.ConditionSpecValid,
			Status: status.ConditionTrue, Reason: "Valid"}, now)
	}
	if d.prog == nil {
		return
	}
	p.setHooks(d.prog.Spec.Hooks)
	if p.deps != nil {
		p.deps.setNeeds(p.name, d.prog.Spec.DependsOn)
	}
	if d.prog != old.prog || d.deleted != old.deleted || d.shutdown != old.shutdown {
		p.progressAt = now
	}
	if d.prog != old.prog && d.invalid == nil && len(d.prog.Warnings) > 0 {
		// Once per accepted version: "did you mean shell: true?"
		p.event("", 0, status.EventWarning, "SpecWarning", d.prog.Warnings.Error())
	}
	if d.prog != old.prog {
		p.newFlapWindow()
		// Any edit of the manifest gives FATAL instances another chance,
		// even one that leaves the spec hash alone (startRetries: 10).
		for _, in := range p.instances {
			if in.phase == phFatal {
				p.step(in, evEdited{})
			}
		}
	}
	if old.prog != nil && old.hash != d.hash {
		p.event("", 0, status.EventNormal, "SpecChanged", fmt.Sprintf("spec hash %s -> %s: replacing instances (%s)", short(old.hash), short(d.hash), d.prog.Spec.UpdateStrategy.Type))
	}
	if replicas := d.prog.Spec.Replicas; p.lastReplicas >= 0 && replicas != p.lastReplicas {
		p.event("", 0, status.EventNormal, "Scaled", fmt.Sprintf("replicas %d -> %d", p.lastReplicas, replicas))
	}
	p.lastReplicas = d.prog.Spec.Replicas
}

// want is the number of instances that should run now.
func (p *program) want() int {
	d := p.cur
	if d.prog == nil || d.deleted || d.prog.Spec.Desired != spec.DesiredRunning {
		return 0
	}
	if d.shutdown && (p.deps == nil || !p.deps.dependentsAlive(p.name)) {
		return 0 // at shutdown, dependents stop first
	}
	return d.prog.Spec.Replicas
}

// reconcile sets every instance's target and drives it towards it. It is
// idempotent: with nothing changed, a second pass does nothing.
func (p *program) reconcile() {
	want := p.want()
	p.checkDependencies()
	if !p.full && p.settled && want == p.lastWant {
		for _, idx := range p.touched {
			if in := p.instances[idx]; in != nil {
				p.step(in, evDrive{})
				p.dropIfDone(in, want)
			}
		}
		p.built.touch(p.touched)
		p.touched = p.touched[:0]
		p.reportDependencyState(want)
		return
	}
	p.built.touchAll()
	p.full, p.lastWant, p.touched = false, want, p.touched[:0]
	p.fullPasses.Add(1)
	for i := range want {
		if p.instances[i] == nil {
			p.instances[i] = &instance{idx: i}
			p.order = nil
			p.dirty = true
		}
	}
	order := p.sorted()
	if !p.cur.shutdown || want == 0 {
		p.setTargets(order, want) // held at shutdown: no rollout goes on
	}
	// Highest index first, so that scaling down stops the newest first.
	for i := len(order) - 1; i >= 0; i-- {
		p.step(order[i], evDrive{})
	}
	p.settled = true
	for idx, in := range p.instances {
		if p.dropIfDone(in, want) {
			continue
		}
		// Settled: every wanted instance runs (or will run) the current
		// spec, and every instance in excess is being stopped (no target).
		// Then no message about one instance can change another's target,
		// and stopping all of N costs O(1) per exit, not O(N).
		switch {
		case idx >= want:
			if in.target != nil {
				p.settled = false
			}
		case in.targetHash != p.cur.hash || (in.hash != p.cur.hash && in.live()):
			p.settled = false
		}
	}
	p.reportDependencyState(want)
}

// dropIfDone forgets in when it is in excess of want and has stopped, and
// reports whether it did.
func (p *program) dropIfDone(in *instance, want int) bool {
	if in.idx < want || in.phase != phStopped {
		return false
	}
	delete(p.instances, in.idx)
	p.order = nil
	p.dirty = true
	return true
}

func (p *program) handle(m any) {
	p.dirty = true
	switch m := m.(type) {
	case spawned:
		p.touched = append(p.touched, m.idx)
		p.onSpawned(m)
	case exited:
		p.touched = append(p.touched, m.idx)
		p.onExited(m)
	case groupGone:
		p.touched = append(p.touched, m.idx)
		if in := p.current(m.idx, m.gen); in != nil {
			p.step(in, evGroupGone{at: p.clock.Now()})
		}
	case timerFired:
		p.touched = append(p.touched, m.idx)
		if in := p.instances[m.idx]; in != nil && in.timerGen == m.gen {
			in.timer = nil
			p.step(in, evTimer{})
		}
	case signalReq:
		m.reply <- p.signal(m.index, m.sig)
	case restartReq:
		p.touched = append(p.touched, m.index)
		m.reply <- p.restart(m.index, m.force)
	case publishDue:
		p.publishTimer = false
	case probeVerdict:
		p.touched = append(p.touched, m.idx)
		p.onProbe(m)
	case deadlineDue:
		p.deadlineTimer = nil
	case flapDue:
		p.flapTimer(m)
	case preStopDone:
		p.touched = append(p.touched, m.idx)
		if in := p.current(m.idx, m.gen); in != nil {
			p.step(in, evPreStopDone{err: m.err})
		}
	}
}

// current returns the instance a message is about, or nil when the message
// is about an earlier process or timer of it.
func (p *program) current(idx, gen int) *instance {
	in := p.instances[idx]
	if in == nil || in.gen != gen {
		return nil
	}
	return in
}

// signal sends sig to instance index, or to every instance when index < 0.
func (p *program) signal(index int, sig syscall.Signal) error {
	var errs []error
	sent := 0
	for _, in := range p.sorted() {
		if index >= 0 && in.idx != index || in.proc == nil || in.phase == phDraining {
			continue
		}
		if err := in.proc.Signal(sig); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", in.name(p.name), err))
			continue
		}
		sent++
		p.event(in.name(p.name), in.pid, status.EventNormal, "Signalled", "sent "+proc.SignalName(sig))
	}
	if sent == 0 && len(errs) == 0 {
		return fmt.Errorf("%s: %w to signal", p.name, ErrNotRunning)
	}
	return errors.Join(errs...)
}

// finished reports whether the program has nothing left to do: deleted or
// shut down, with every instance gone. It then closes the program.
func (p *program) finished() bool {
	if !(p.cur.deleted || p.cur.shutdown) || len(p.instances) > 0 {
		return false
	}
	// Unless new desired state or a message arrived meanwhile.
	closed := p.closeIfIdle(func() {
		if p.deps != nil {
			p.deps.leave(p.name)
		}
		if p.deadlineTimer != nil {
			p.deadlineTimer.Stop()
		}
		if p.flap.timer != nil {
			p.flap.timer.Stop()
		}
		if p.cur.deleted {
			p.event("", 0, status.EventNormal, "Deleted", "manifest removed: all instances stopped")
			p.hooks.gone.Store(true)
			p.sink.Delete(p.name)
			if p.onGone != nil {
				p.onGone(p)
			}
		} else {
			p.publishNow()
		}
	})
	if closed {
		// Outside the mailbox's lock: posting goroutines never wait for it.
		p.closeHooks(p.cur.deleted)
	}
	return closed
}

func (p *program) event(instance string, pid int, kind, reason, msg string) {
	p.emitEvent(status.Event{Type: kind, Reason: reason, Instance: instance, Pid: pid, Message: msg})
}

// emitEvent records ev, an event of this program, as happening now.
func (p *program) emitEvent(ev status.Event) {
	ev.Time, ev.Program = p.clock.Now(), p.name
	p.sink.Event(ev)
	p.fireHooks(ev)
	if !p.eventLogSet {
		p.eventLog, p.eventLogSet = eventLogger(p.log), true
	}
	logEvent(p.eventLog, ev)
}

// setTargets has the planner decide which spec each instance of order (by
// index) should run.
func (p *program) setTargets(order []*instance, want int) {
	view := make([]planned, len(order))
	for i, in := range order {
		view[i] = in.planned()
	}
	for i, t := range plan(view, want, p.cur.prog, p.cur.hash) {
		order[i].target, order[i].targetHash = t.prog, t.hash
	}
}

// sorted returns the instances by index. The order is kept until an
// instance is added or removed, so a pass does not sort thousands again.
func (p *program) sorted() []*instance {
	if p.order == nil {
		p.order = make([]*instance, 0, len(p.instances))
		for _, in := range p.instances {
			p.order = append(p.order, in)
		}
		sort.Slice(p.order, func(i, j int) bool { return p.order[i].idx < p.order[j].idx })
	}
	return p.order
}

func short(hash string) string {
	const n = len("sha256:") + 12
	if len(hash) > n {
		return hash[:n]
	}
	return hash
}

func argv0(p *spec.Program) string {
	if len(p.Spec.Command) == 0 {
		return ""
	}
	return p.Spec.Command[0]
}
