package reconciler

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

// The executor: it feeds events to the lifecycle (transition) and carries
// out the effects it returns. It is the only place where an instance's
// handles (process, timer, probes) are used.

// world is what the lifecycle needs to know about the program now.
func (p *program) world() world {
	return world{shutdown: p.cur.shutdown, shutdownSignal: p.cur.shutdownSignal, waiting: p.waiting, lost: p.lost, cur: p.cur.prog, curHash: p.cur.hash}
}

// step applies ev to in and carries out the effects. An illegal transition
// is a bug: it is logged and recorded as an event, and in is left as it was.
func (p *program) step(in *instance, ev any) {
	for ev != nil {
		next, effs, err := transition(in.life, ev, p.world(), p.clock.Now())
		if err != nil {
			name := in.name(p.name)
			p.log.Error(err, "Illegal transition: this is a bug", "instance", name, "event", eventName(ev))
			p.event(name, in.pid, status.EventWarning, "IllegalTransition", "bug: "+err.Error()+" on "+eventName(ev))
			return
		}
		if next != in.life {
			p.dirty = true
		}
		if next.restarts > in.life.restarts && p.cur.prog != nil {
			p.restarted(in.idx, p.clock.Now())
		}
		in.life = next
		ev = nil
		for _, e := range effs {
			if follow := p.do(in, e); follow != nil {
				ev = follow
			}
		}
	}
}

// do carries out one effect; it returns an event to apply next, if the
// effect's outcome is known at once.
func (p *program) do(in *instance, e effect) any {
	switch e := e.(type) {
	case effSpawn:
		in.proc = nil
		p.spawnProcess(in.idx, e, in.previous)
		in.previous = nil
	case effWatch:
		p.watchExit(in)
	case effStartProbes:
		p.startProbes(in, in.takeProbers())
	case effStopProbes:
		p.stopProbes(in)
	case effSignal:
		if in.proc != nil {
			p.signalGroup(in.proc, e.sig, in.name(p.name))
		}
	case effArmTimer:
		p.armTimer(in, e.d)
	case effCancelTimer:
		p.cancelTimer(in)
	case effAwaitGroup:
		if in.proc.GroupGone() {
			return evGroupGone{at: p.clock.Now()}
		}
		idx, gen := in.idx, in.gen
		// No goroutine per instance: a stop of 1000 waits on the reaper's passes.
		// The program cannot end first: the instance is not gone until then.
		in.proc.OnGroupEmpty(func() { p.post(groupGone{idx: idx, gen: gen}) })
	case effRelease:
		in.previous = p.release(in.proc, in.name(p.name))
		in.proc = nil
	case effRetire:
		in.previous = p.retire(in.proc, e.sig, e.timeout)
		in.proc = nil
	case effEvent:
		if e.oncePer != "" {
			if p.limitsReported[e.oncePer] {
				return nil
			}
			if p.limitsReported == nil {
				p.limitsReported = map[string]bool{}
			}
			p.limitsReported[e.oncePer] = true
		}
		p.emitEvent(status.Event{Type: e.typ, Reason: e.reason, Instance: in.name(p.name), Pid: e.pid, Message: e.message, Exit: e.exit})
	case effProgress:
		p.progressAt = p.clock.Now()
	case effPreStop:
		return p.preStop(in, e.timeout)
	}
	return nil
}

func eventName(ev any) string {
	switch ev.(type) {
	case evDrive:
		return "drive"
	case evSpawned:
		return "spawned"
	case evExited:
		return "exited"
	case evGroupGone:
		return "group gone"
	case evTimer:
		return "timer"
	case evProbe:
		return "probe"
	case evEdited:
		return "edited"
	case evRestart:
		return "restart"
	case evPreStopDone:
		return "preStop done"
	}
	return "unknown"
}

// spawnProcess builds the probes and starts process e.gen of instance idx,
// off the program's goroutine; the result comes back as a spawned message.
// When previous is not nil, the instance's previous process is still being
// let go (its group emptied and its leader reaped): the start waits for
// that, so an index never has two live process sets at once; a removal of
// its cgroup still held back is taken over by the start (Cgroups.create),
// so it never has two cgroups either.
func (p *program) spawnProcess(idx int, e effSpawn, previous <-chan struct{}) {
	if p.spawns.add(spawnReq{idx: idx, e: e, previous: previous}, cap(p.spawnSlots)) {
		p.wg.Add(1)
		go p.spawner()
	}
}

// spawner takes starts off the program's queue until it is empty: a
// program has at most as many spawners as the daemon has start slots, not
// a goroutine per start waiting for one (a goroutine's descriptor is never
// given back to the system, so a scale to 5000 would keep 5000 of them).
func (p *program) spawner() {
	defer p.wg.Done()
	for {
		req, ok := p.spawns.next(p.ctx)
		if !ok {
			return
		}
		p.spawnOne(req)
	}
}

// spawnOne waits for the previous process of the instance and for a start
// slot, starts the process and posts the result.
func (p *program) spawnOne(req spawnReq) {
	gen, prog := req.e.gen, req.e.prog
	if req.previous != nil {
		select {
		case <-req.previous:
		case <-p.ctx.Done():
			return
		}
	}
	select {
	case p.spawnSlots <- struct{}{}:
	case <-p.ctx.Done():
		return
	}
	var proc Process
	prs, err := p.buildProbes(prog, req.idx)
	if err == nil {
		proc, err = p.starter.Start(p.ctx, StartRequest{Program: prog, Index: req.idx})
		err = asLimitError(err, prog)
	}
	<-p.spawnSlots
	p.post(spawned{idx: req.idx, gen: gen, proc: proc, probers: prs, err: err, at: p.clock.Now()})
}

// onSpawned hands a finished Start to its instance, or lets the process go
// when nobody wants it any more.
func (p *program) onSpawned(m spawned) {
	in := p.current(m.idx, m.gen)
	if in == nil || in.phase != phSpawning {
		if m.proc != nil {
			p.retire(m.proc, syscall.SIGKILL, 0)
		}
		return
	}
	ev := evSpawned{err: m.err, at: m.at, hasReadiness: m.probers.readiness != nil}
	if m.err == nil {
		in.proc = m.proc
		in.setProbers(m.probers)
		ev.pid = m.proc.Pid()
		clear(p.limitsReported) // a limit reached is reported again
	}
	p.step(in, ev)
}

// watchExit asks the process layer for in's exit. No goroutine of ours per
// process: the process layer calls back.
func (p *program) watchExit(in *instance) {
	idx, gen, pr := in.idx, in.gen, in.proc
	pr.OnExit(func() {
		st, err := pr.Wait(p.ctx)
		if errors.Is(err, context.Canceled) {
			return
		}
		p.post(exited{idx: idx, gen: gen, status: st, err: err, at: p.clock.Now()})
	})
}

func (p *program) onExited(m exited) {
	in := p.current(m.idx, m.gen)
	if in == nil || in.proc == nil {
		return
	}
	ev := evExited{code: m.status.Code, at: m.at}
	if m.status.Signal != 0 {
		ev.signal = proc.SignalName(m.status.Signal)
	}
	if m.err != nil {
		ev.code = -1
	}
	if o, ok := in.proc.(oomReporter); ok && m.status.Signal == syscall.SIGKILL {
		ev.oomKilled = o.OOMKilled()
	}
	p.step(in, ev)
}

// released is a stopped leader to reap.
type released struct {
	proc Process
	name string
}

// releasedBy returns what a new process of the same instance must wait
// for before it starts: a contained process's cgroup is the instance's,
// and free for the next once the leader is released. nil: nothing.
func releasedBy(pr Process) <-chan struct{} {
	if c, ok := pr.(interface{ released() <-chan struct{} }); ok {
		return c.released()
	}
	return nil
}

// release reaps a stopped leader, whose group is gone, off the program's
// goroutine: the reap and the closes cost as much as everything else a stop
// does, and after a stop of 1000 the exits are handled back to back, so one
// goroutine reaps while run goes on with the next exits. The instance no
// longer refers to it; run ends only after every release (p.wg).
// It returns what a new process of the instance must wait for (releasedBy).
func (p *program) release(pr Process, name string) <-chan struct{} {
	p.releases.add(&p.wg, released{pr, name}, p.reap)
	return releasedBy(pr)
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
// in the background on real time: it talks only to the OS. It returns what
// a new process of the instance must wait for (releasedBy).
func (p *program) retire(pr Process, sig syscall.Signal, timeout time.Duration) <-chan struct{} {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		// Not p.ctx: the program may end (deleted, shut down) before the
		// group is gone, and the group must go all the same.
		bg := context.WithoutCancel(p.ctx)
		if !pr.GroupGone() { // usually it is: nothing left to stop
			_ = pr.SignalGroup(sig)
			ctx, cancel := context.WithTimeout(bg, timeout)
			err := pr.WaitGroupEmpty(ctx)
			cancel()
			if err != nil {
				_ = pr.SignalGroup(syscall.SIGKILL)
				_ = pr.WaitGroupEmpty(bg)
			}
		}
		_ = pr.Release()
	}()
	return releasedBy(pr)
}

func (p *program) armTimer(in *instance, d time.Duration) {
	p.cancelTimer(in)
	idx, gen := in.idx, in.timerGen
	in.timer = p.clock.AfterFunc(d, func() { p.post(timerFired{idx: idx, gen: gen}) })
}

func (p *program) cancelTimer(in *instance) {
	if in.timer != nil {
		in.timer.Stop()
		in.timer = nil
	}
	in.timerGen++
}
