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
}

// programOptions are what every program shares with the daemon.
type programOptions struct {
	log     logr.Logger
	clock   Clock
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
}

// program owns the instances of one program. Its goroutine (run) is the only
// one that touches their state; process exits, timers and finished spawns
// come to it as messages in a mailbox, and the loop's desired state through a
// latest-wins slot. Each pass applies every queued message, then reconciles
// once and publishes the status once, so a storm costs one status build.
//
// The mailbox is a slice under mu, not a channel: posting never blocks, so
// the exit watcher can post from its own goroutine while run is busy (a
// pass that stops 1000 instances), and a burst of exits costs no parked
// senders to wake one by one. It is bounded by what is in flight: at most a
// few messages per instance.
type program struct {
	programOptions
	name string

	mu     sync.Mutex
	next   *desired      // guarded by mu: not yet taken
	mbox   []any         // guarded by mu: messages not yet taken
	closed bool          // guarded by mu: run has returned; make a new program
	wake   chan struct{} // cap 1: next was set or mbox was empty

	batch []any           // run's: the messages being handled
	ctx   context.Context // the program's own life: waiters, timers, spawns
	stop  context.CancelFunc
	wg    sync.WaitGroup // goroutines that post, and the backlogs' (releases, signals)
	done  chan struct{}

	releases backlog[released]    // stopped leaders to reap
	signals  backlog[groupSignal] // stop signals and SIGKILLs to send

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
	// progressAt is when the program last made progress (a new spec or
	// replica count, an instance becoming ready, dependencies met); the
	// progress deadline counts from it.
	progressAt    time.Time
	deadlineTimer Timer
	deadlineAt    time.Time

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
}

func newProgram(parent context.Context, name string, opts programOptions) *program {
	// The program outlives the daemon's context on purpose: at shutdown it
	// still has to stop its instances, so it is cancelled by run itself.
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	return &program{
		programOptions: opts,
		name:           name,
		wake:           make(chan struct{}, 1),
		ctx:            ctx,
		stop:           cancel,
		done:           make(chan struct{}),
		instances:      map[int]*instance{},
		lastReplicas:   -1,
	}
}

// set hands the program new desired state. It returns false when the program
// has ended; the caller then starts a new one.
func (p *program) set(d desired) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.next = &d
	p.nudge()
	return true
}

// post queues a message for run without blocking. It returns false, and
// drops m, when the program has ended.
func (p *program) post(m any) bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.mbox = append(p.mbox, m)
	first := len(p.mbox) == 1
	p.mu.Unlock()
	if first { // else a wake-up is pending or run is about to take the box
		p.nudge()
	}
	return true
}

// nudge wakes run; wake-ups coalesce.
func (p *program) nudge() {
	select {
	case p.wake <- struct{}{}:
	default:
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
	p.mu.Lock()
	d := p.next
	p.next = nil
	p.batch, p.mbox = p.mbox, p.batch[:0]
	p.mu.Unlock()
	if d != nil {
		p.apply(*d)
	}
	for i, m := range p.batch {
		p.handle(m)
		p.batch[i] = nil // the box's next use must not pin what m held
	}
	return d != nil || len(p.batch) > 0
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
			Status: status.ConditionFalse, Reason: "Invalid", Message: d.invalid.Error()}, now)
	} else if d.prog != nil {
		p.invalidMsg = ""
		p.conditions = status.SetCondition(p.conditions, status.Condition{Type: status.ConditionSpecValid,
			Status: status.ConditionTrue, Reason: "Valid"}, now)
	}
	if d.prog == nil {
		return
	}
	if p.deps != nil {
		p.deps.setNeeds(p.name, d.prog.Spec.DependsOn)
	}
	if d.prog != old.prog || d.deleted != old.deleted || d.shutdown != old.shutdown {
		p.progressAt = now
	}
	if d.prog != old.prog {
		// Any edit of the manifest gives FATAL instances another chance,
		// even one that leaves the spec hash alone (startRetries: 10).
		for _, in := range p.instances {
			in.retry = in.state == Fatal
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
				p.drive(in)
				p.dropIfDone(in, want)
			}
		}
		p.touched = p.touched[:0]
		p.reportDependencyState(want)
		return
	}
	p.full, p.lastWant, p.touched = false, want, p.touched[:0]
	p.fullPasses.Add(1)
	for i := range want {
		if p.instances[i] == nil {
			p.instances[i] = &instance{idx: i, state: Stopped}
			p.order = nil
			p.dirty = true
		}
	}
	if !p.cur.shutdown || want == 0 {
		p.setTargets(want) // held at shutdown: no rollout goes on
	}
	// Highest index first, so that scaling down stops the newest first.
	order := p.sorted()
	for i := len(order) - 1; i >= 0; i-- {
		p.drive(order[i])
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
	if in.idx < want || in.state != Stopped || in.spawning {
		return false
	}
	delete(p.instances, in.idx)
	p.order = nil
	p.dirty = true
	return true
}

// setTargets decides which spec each instance should run, applying the
// update strategy to instances that run an older spec hash.
func (p *program) setTargets(want int) {
	for idx, in := range p.instances {
		if idx >= want {
			in.target, in.targetHash = nil, ""
		}
	}
	if want == 0 {
		return
	}
	newProg, newHash := p.cur.prog, p.cur.hash
	strategy := newProg.Spec.UpdateStrategy
	if strategy.Type == spec.Recreate {
		oldAlive := false
		for _, in := range p.instances {
			oldAlive = oldAlive || (in.live() && in.hash != newHash)
		}
		for i := range want {
			in := p.instances[i]
			switch {
			case in.live() && in.hash == newHash, !oldAlive:
				in.target, in.targetHash = newProg, newHash
			default: // stop the old ones; start nothing until all are gone
				in.target, in.targetHash = nil, ""
			}
		}
		return
	}
	unavailable := 0
	for i := range want {
		if !p.instances[i].ready() {
			unavailable++
		}
	}
	for i := range want {
		in := p.instances[i]
		switch {
		case in.hash == newHash || !in.live() || !in.ready():
			in.target, in.targetHash = newProg, newHash
		case unavailable < strategy.MaxUnavailable:
			in.target, in.targetHash = newProg, newHash
			unavailable++
		default: // keep serving the old spec until its turn
			in.target, in.targetHash = in.spec, in.hash
		}
	}
}

// drive moves one instance one step towards its target.
func (p *program) drive(in *instance) {
	t := in.target
	switch in.state {
	case Starting, Running:
		if in.spawning {
			return // acted on when the spawn reports back
		}
		if t == nil || in.targetHash != in.hash {
			p.stopInstance(in)
			return
		}
		in.spec = t // supervision settings apply in place
	case Backoff:
		switch {
		case t == nil:
			in.cancelTimer()
			p.setState(in, Stopped)
		case in.targetHash != in.hash && !p.cur.shutdown:
			in.cancelTimer()
			p.spawn(in, true)
		default:
			in.spec = t
		}
	case Exited, Fatal:
		switch {
		case t == nil:
			p.setState(in, Stopped)
		case (in.targetHash != in.hash || in.retry) && !p.cur.shutdown:
			p.spawn(in, true)
		default:
			in.spec = t
		}
	case Stopped:
		switch {
		case t == nil:
			if in.message != "" && in.message == p.waiting {
				in.message = ""
			}
		case p.cur.shutdown:
			// shutting down, held back for dependents: start nothing new
		case p.waiting != "":
			if in.message != p.waiting {
				in.message = p.waiting
				p.dirty = true
			}
		default:
			p.spawn(in, in.targetHash != in.hash)
		}
	}
}

// spawn starts the target spec of in; fresh resets the counters (a new spec).
func (p *program) spawn(in *instance, fresh bool) {
	if fresh {
		in.restarts, in.failures = 0, 0
	}
	in.spec, in.hash = in.target, in.targetHash
	in.retry = false
	in.gen++
	in.spawning = true
	in.proc, in.pid, in.message = nil, 0, ""
	in.nextRetry = time.Time{}
	in.restartAfterStop = false
	p.stopProbes(in)
	p.setState(in, Starting)
	idx, gen, prog := in.idx, in.gen, in.spec
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case p.spawnSlots <- struct{}{}:
		case <-p.ctx.Done():
			return
		}
		var proc Process
		prs, err := p.buildProbes(prog, idx)
		if err == nil {
			proc, err = p.starter.Start(p.ctx, StartRequest{Program: prog, Index: idx})
		}
		<-p.spawnSlots
		p.post(spawned{idx: idx, gen: gen, proc: proc, probers: prs, err: err, at: p.clock.Now()})
	}()
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
		if in := p.current(m.idx, m.gen); in != nil && in.state == Stopping {
			p.finishStop(in)
		}
	case timerFired:
		p.touched = append(p.touched, m.idx)
		if in := p.instances[m.idx]; in != nil && in.timerGen == m.gen {
			p.onTimer(in)
		}
	case signalReq:
		m.reply <- p.signal(m.index, m.sig)
	case publishDue:
		p.publishTimer = false
	case probeVerdict:
		p.touched = append(p.touched, m.idx)
		p.onProbe(m)
	case deadlineDue:
		p.deadlineTimer = nil
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

func (p *program) onSpawned(m spawned) {
	in := p.current(m.idx, m.gen)
	if in == nil || !in.spawning {
		if m.proc != nil { // nobody wants it any more
			p.retire(m.proc, syscall.SIGKILL, 0)
		}
		return
	}
	in.spawning = false
	if m.err != nil {
		p.afterExit(in, exitFacts{code: 127, failures: in.failures}, "start failed: "+m.err.Error(), m.at)
		return
	}
	at := m.at
	in.proc, in.pid, in.startedAt = m.proc, m.proc.Pid(), &at
	in.leaderExited = false
	p.event(in.name(p.name), in.pid, status.EventNormal, "Started", "started "+argv0(in.spec))
	idx, gen, proc := in.idx, in.gen, m.proc
	// No goroutine of ours per process: the process layer calls back.
	proc.OnExit(func() {
		st, err := proc.Wait(p.ctx)
		if errors.Is(err, context.Canceled) {
			return
		}
		p.post(exited{idx: idx, gen: gen, status: st, err: err, at: p.clock.Now()})
	})
	in.everReady = false
	p.startProbes(in, m.probers)
	if in.spec.Spec.StartSeconds <= 0 {
		p.becomeRunning(in)
	} else {
		p.armTimer(in, in.spec.Spec.StartSeconds)
	}
}

func (p *program) becomeRunning(in *instance) {
	in.failures = 0
	if !in.hasReadiness || in.probeReady {
		in.message = ""
	}
	p.setState(in, Running) // Ready, unless a readiness probe holds it back
}

func (p *program) onTimer(in *instance) {
	in.timer = nil
	switch in.state {
	case Starting:
		p.becomeRunning(in)
	case Backoff:
		if in.target != nil && !p.cur.shutdown {
			in.restarts++
			p.spawn(in, false)
		}
	case Stopping:
		if in.proc != nil {
			p.signalGroup(in.proc, syscall.SIGKILL, in.name(p.name))
			p.event(in.name(p.name), in.pid, status.EventWarning, "Killed", fmt.Sprintf("still running %v after %s: sent SIGKILL to the process group", in.spec.Spec.StopTimeout, in.spec.Spec.StopSignal.Name))
		}
	}
}

func (p *program) onExited(m exited) {
	in := p.current(m.idx, m.gen)
	if in == nil || in.proc == nil || in.leaderExited {
		return
	}
	in.leaderExited = true
	code, sig := m.status.Code, ""
	if m.status.Signal != 0 {
		sig = proc.SignalName(m.status.Signal)
	}
	if m.err != nil {
		code = -1
	}
	ranFor := m.at.Sub(*in.startedAt)
	in.lastExit = &status.Exit{Code: code, Signal: sig, At: m.at, RanFor: status.Duration(ranFor)}
	if in.state == Stopping {
		p.awaitGroup(in)
		return
	}
	// Supervision settings of a newer spec of the same hash apply to this
	// exit even if no pass has retargeted the instance since it was read.
	if p.cur.prog != nil && p.cur.hash == in.hash {
		in.spec = p.cur.prog
	}
	// Nobody asked for this exit. Whatever the leader left in its group is
	// stopped in the background; the instance moves on at once.
	p.retire(in.proc, in.spec.Spec.StopSignal.Number, in.spec.Spec.StopTimeout)
	in.proc = nil
	in.cancelTimer()
	facts := exitFacts{code: code, signal: sig, ranFor: ranFor, started: in.state == Running, failures: in.failures}
	p.afterExit(in, facts, "", m.at)
}

// afterExit applies the restart policy after an exit or a failed spawn.
func (p *program) afterExit(in *instance, facts exitFacts, why string, now time.Time) {
	d := decideExit(&in.spec.Spec, facts)
	if why != "" {
		d.message = why + "; " + d.message
	}
	in.failures = d.failures
	kind := status.EventWarning
	if facts.signal == "" && facts.code == 0 {
		kind = status.EventNormal
	}
	name, pid := in.name(p.name), in.pid
	in.pid = 0
	p.event(name, pid, kind, "Exited", describeExit(facts.code, facts.signal)+fmt.Sprintf(" after %v", facts.ranFor.Round(time.Millisecond)))
	if p.cur.shutdown && d.next != Fatal {
		d.next = Exited // held at shutdown for dependents: start nothing new
	}
	switch d.next {
	case Starting:
		in.restarts++
		p.spawn(in, false)
	case Backoff:
		p.setState(in, Backoff)
		in.message = d.message
		in.nextRetry = now.Add(d.delay)
		p.armTimer(in, d.delay)
		if d.reason == "BackOff" {
			p.event(name, 0, status.EventWarning, "BackOff", fmt.Sprintf("%s; restarting in %v", d.message, d.delay))
		}
	case Fatal:
		p.setState(in, Fatal)
		in.message = d.message
		p.event(name, 0, status.EventWarning, "Fatal", d.message)
	case Exited:
		p.setState(in, Exited)
		in.message = d.message
	}
}

// stopInstance sends the stop signal to the group and arms the SIGKILL timer.
func (p *program) stopInstance(in *instance) {
	in.cancelTimer()
	p.setState(in, Stopping)
	sig := in.spec.Spec.StopSignal
	p.event(in.name(p.name), in.pid, status.EventNormal, "Stopping", "sent "+sig.Name+" to the process group")
	p.signalGroup(in.proc, sig.Number, in.name(p.name))
	p.armTimer(in, in.spec.Spec.StopTimeout)
	if in.leaderExited { // it exited on its own just before
		p.awaitGroup(in)
	}
}

// awaitGroup finishes the stop once the rest of the group is gone: at once
// when that is known already, else after waiting in the background.
func (p *program) awaitGroup(in *instance) {
	if in.proc.GroupGone() {
		p.finishStop(in)
		return
	}
	idx, gen := in.idx, in.gen
	// No goroutine per instance: a stop of 1000 waits on the reaper's passes.
	// The program cannot end first: the instance is not gone until then.
	in.proc.OnGroupEmpty(func() { p.post(groupGone{idx: idx, gen: gen}) })
}

func (p *program) finishStop(in *instance) {
	in.cancelTimer()
	p.release(in.proc, in.name(p.name))
	if e := in.lastExit; in.restartAfterStop && e != nil && in.target != nil && in.targetHash == in.hash && !p.cur.shutdown {
		// Stopped because the liveness probe failed: the restart policy
		// decides what comes next, as after any exit (a failed start before
		// startSeconds, back-off, FATAL, EXITED under Never).
		in.restartAfterStop = false
		in.proc = nil
		facts := exitFacts{code: e.Code, signal: e.Signal, ranFor: time.Duration(e.RanFor), started: in.unhealthyRunning, failures: in.failures}
		p.afterExit(in, facts, "liveness probe failed", p.clock.Now())
		return
	}
	name, pid := in.name(p.name), in.pid
	in.proc, in.pid = nil, 0
	p.setState(in, Stopped)
	msg := "stopped"
	if e := in.lastExit; e != nil {
		msg = "stopped: " + describeExit(e.Code, e.Signal)
	}
	p.event(name, pid, status.EventNormal, "Stopped", msg)
}

// released is a stopped leader to reap.
type released struct {
	proc Process
	name string
}

// release reaps a stopped leader, whose group is gone, off the program's
// goroutine: the reap and the closes cost as much as everything else a stop
// does, and after a stop of 1000 the exits are handled back to back, so one
// goroutine reaps while run goes on with the next exits. The instance no
// longer refers to it; run ends only after every release (p.wg).
func (p *program) release(pr Process, name string) {
	p.releases.add(&p.wg, released{pr, name}, p.reap)
}

func (p *program) reap(r released) {
	if err := r.proc.Release(); err != nil {
		p.log.Error(err, "Release failed", "instance", r.name, "pid", r.proc.Pid())
	}
}

// groupSignal is a signal for the process group of a supervised instance.
type groupSignal struct {
	proc Process
	sig  syscall.Signal
	name string // the instance, for the log
}

// signalGroup sends sig to pr's process group off the program's goroutine.
// The signals go out in the order they were asked for (a SIGKILL after the
// stop signal it escalates), on one goroutine: stopping 1000 instances is
// 1000 kill(2) calls, each of which wakes a process that may take the CPU
// there and then to exit. Queued, they no longer hold up the program, which
// handles the first exits, and hands their leaders to release, while the
// later signals still go out. A signal that finds the process already
// released is dropped (proc never signals a reaped pid).
func (p *program) signalGroup(pr Process, sig syscall.Signal, name string) {
	p.signals.add(&p.wg, groupSignal{pr, sig, name}, p.sendSignal)
}

func (p *program) sendSignal(s groupSignal) {
	if err := s.proc.SignalGroup(s.sig); err != nil {
		p.log.V(1).Info("Signal failed", "instance", s.name, "pid", s.proc.Pid(), "signal", proc.SignalName(s.sig), "error", err.Error())
	}
}

// retire ends what is left of a process group nobody supervises any more:
// sig to the group, SIGKILL after timeout, then the leader is reaped. It runs
// in the background on real time: it talks only to the OS.
func (p *program) retire(pr Process, sig syscall.Signal, timeout time.Duration) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		// Not p.ctx: the program may end (deleted, shut down) before the
		// group is gone, and the group must go all the same.
		bg := context.WithoutCancel(p.ctx)
		_ = pr.SignalGroup(sig)
		ctx, cancel := context.WithTimeout(bg, timeout)
		err := pr.WaitGroupEmpty(ctx)
		cancel()
		if err != nil {
			_ = pr.SignalGroup(syscall.SIGKILL)
			_ = pr.WaitGroupEmpty(bg)
		}
		_ = pr.Release()
	}()
}

func (p *program) armTimer(in *instance, d time.Duration) {
	in.cancelTimer()
	in.timerGen++
	idx, gen := in.idx, in.timerGen
	in.timer = p.clock.AfterFunc(d, func() { p.post(timerFired{idx: idx, gen: gen}) })
}

func (p *program) setState(in *instance, to State) {
	if in.state == to {
		return
	}
	if err := checkTransition(in.state, to); err != nil {
		p.log.Error(err, "Illegal transition: this is a bug", "instance", in.name(p.name))
	}
	in.state = to
	p.dirty = true
	if to != Starting && to != Running {
		p.stopProbes(in)
	}
	p.noteReady(in)
}

// signal sends sig to instance index, or to every instance when index < 0.
func (p *program) signal(index int, sig syscall.Signal) error {
	var errs []error
	sent := 0
	for _, in := range p.sorted() {
		if index >= 0 && in.idx != index || in.proc == nil || in.leaderExited {
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
		return fmt.Errorf("%s: no running instance to signal", p.name)
	}
	return errors.Join(errs...)
}

// finished reports whether the program has nothing left to do: deleted or
// shut down, with every instance gone. It then closes the program.
func (p *program) finished() bool {
	if !(p.cur.deleted || p.cur.shutdown) || len(p.instances) > 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next != nil || len(p.mbox) > 0 {
		return false // new desired state or a message arrived meanwhile
	}
	if p.deps != nil {
		p.deps.leave(p.name)
	}
	if p.deadlineTimer != nil {
		p.deadlineTimer.Stop()
	}
	p.closed = true
	if p.cur.deleted {
		p.event("", 0, status.EventNormal, "Deleted", "manifest removed: all instances stopped")
		p.sink.Delete(p.name)
	} else {
		p.publishNow()
	}
	return true
}

func (p *program) event(instance string, pid int, kind, reason, msg string) {
	p.sink.Event(status.Event{Time: p.clock.Now(), Type: kind, Reason: reason, Program: p.name, Instance: instance, Pid: pid, Message: msg})
	p.log.V(1).Info("Event", "instance", instance, "pid", pid, "reason", reason, "message", msg)
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
