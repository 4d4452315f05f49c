package reconciler

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/proc"
)

// Without cgroups, a process that left its instance's process group
// (setsid, a double fork, nohup ... &) is still known by the marks in its
// environment: RECONCILED_PROGRAM, RECONCILED_INSTANCE and the daemon's
// RECONCILED_DAEMON_ID, and a start no earlier than the instance's. The
// daemon is a subreaper, so such a process stays its descendant: below its
// leader while its parent lives, an orphan of the daemon after. A sweep
// (one walk of those trees for every request pending, see sweeper and
// proc.Starter.FindEscaped) finds them.

// markedProcess is a process of a daemon without cgroups. Its group is its
// process group plus the marked processes that escaped it: a signal to the
// group reaches those found by a sweep too, and the group is gone only once
// a sweep after the process group emptied found none left.
type markedProcess struct {
	Process
	sw      *sweeper
	program string
	index   int
	started time.Time
	mu      sync.Mutex
	lastSig syscall.Signal // the last signal sent to the group
	final   bool           // a sweep after the process group emptied found nothing alive
	escaped []proc.Marked  // found by sweeps, maybe exited since
	gone    atomic.Bool    // set at Release: the pid may name another process since
}

func newMarkedProcess(pr Process, sw *sweeper, program string, index int, started time.Time) *markedProcess {
	return &markedProcess{Process: pr, sw: sw, program: program, index: index, started: started}
}

// SignalGroup sends sig to the process group, and then, from a sweep, to
// every marked process of the instance outside it.
func (p *markedProcess) SignalGroup(sig syscall.Signal) error {
	err := p.Process.SignalGroup(sig)
	p.sw.request(sweepReq{p: p, sig: sig})
	return err
}

// GroupGone reports whether the process group is empty and a sweep since
// found no escaped process alive.
func (p *markedProcess) GroupGone() bool {
	if !p.Process.GroupGone() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.final {
		return false
	}
	for _, m := range p.escaped {
		if m.Alive() {
			return false
		}
	}
	return true
}

// OnGroupEmpty calls f once the process group is empty and a sweep finds
// no escaped process of the instance alive; it waits for those it finds
// (they got the group's last signal), and sweeps again.
func (p *markedProcess) OnGroupEmpty(f func()) {
	p.Process.OnGroupEmpty(func() { p.sweepUntilGone(f) })
}

func (p *markedProcess) sweepUntilGone(f func()) {
	p.sw.request(sweepReq{p: p, final: true, then: func(alive []proc.Marked) {
		if len(alive) == 0 {
			f()
			return
		}
		go func() {
			_ = proc.WaitMarked(context.Background(), alive)
			p.sweepUntilGone(f)
		}()
	}})
}

// WaitGroupEmpty blocks until OnGroupEmpty would call, or ctx ends.
func (p *markedProcess) WaitGroupEmpty(ctx context.Context) error {
	done := make(chan struct{})
	var once sync.Once
	p.OnGroupEmpty(func() { once.Do(func() { close(done) }) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release reaps the leader. Unlike a cgroup, which the next process of the
// instance reuses, nothing waits for it: the next process may start while
// what escaped the last one is still being stopped (as with the rest of a
// process group a leader left, which retire stops in the background).
func (p *markedProcess) Release() error {
	err := p.Process.Release()
	p.gone.Store(true)
	return err
}

// isReleased reports whether the leader was reaped: its pid may name
// another process since.
func (p *markedProcess) isReleased() bool { return p.gone.Load() }

// leaderExited reports whether the leader has exited (leaderExited).
func (p *markedProcess) leaderExited() bool { return leaderExited(p.Process) }

// swept takes a sweep's finds for this instance: it remembers them, sends
// the asked-for signal to all of them, or the group's last signal to those
// no sweep had found yet, and returns those alive.
func (p *markedProcess) swept(found []proc.Marked, r sweepReq) []proc.Marked {
	var mine []proc.Marked
	for _, m := range found {
		if m.Program == p.program && m.Instance == p.index && !m.Started.Before(p.started.Add(-2*time.Second)) {
			mine = append(mine, m)
		}
	}
	p.mu.Lock()
	var fresh []proc.Marked
	for _, m := range mine {
		if !knownMarked(p.escaped, m) {
			fresh = append(fresh, m)
		}
	}
	p.escaped = mine
	if r.sig != 0 {
		p.lastSig = r.sig
	}
	last := p.lastSig
	if r.final && len(mine) == 0 {
		p.final = true
	}
	p.mu.Unlock()
	switch {
	case r.sig != 0:
		_ = proc.SignalMarked(mine, unix.Signal(r.sig))
	case last != 0:
		_ = proc.SignalMarked(fresh, unix.Signal(last))
	}
	return mine
}

func knownMarked(ms []proc.Marked, m proc.Marked) bool {
	for _, k := range ms {
		if k.Pid == m.Pid && k.StartTicks == m.StartTicks {
			return true
		}
	}
	return false
}

// sweepReq asks a sweep for p's escaped processes: sig, if not 0, goes to
// all of them; then gets those alive.
type sweepReq struct {
	p     *markedProcess
	sig   syscall.Signal
	final bool
	then  func(alive []proc.Marked)
}

// sweeper serves sweep requests: every request pending when a sweep
// begins is served by that one walk, so a stop of 1000 instances costs a
// few walks, not 1000. It has a goroutine only while requests are pending.
type sweeper struct {
	procs *proc.Starter
	marks []string // RECONCILED_DAEMON_ID=...
	log   logr.Logger

	mu      sync.Mutex
	pending []sweepReq
	running bool
}

func (s *sweeper) request(r sweepReq) {
	s.mu.Lock()
	s.pending = append(s.pending, r)
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		go s.run()
	}
}

func (s *sweeper) run() {
	for {
		s.mu.Lock()
		reqs := s.pending
		s.pending = nil
		if len(reqs) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		// The trees of the leaders being signalled (a process that left the
		// group while its parent lives is there) besides the orphans. A
		// leader that has exited has no tree: the kernel gave its children
		// to the daemon, and they are among the orphans, listed after this.
		var from []int
		for _, r := range reqs {
			if r.sig != 0 && !r.p.isReleased() && !r.p.leaderExited() {
				from = append(from, r.p.Pid())
			}
		}
		found, err := s.procs.FindEscaped(s.marks, from)
		if err != nil {
			s.log.Error(err, "Cannot look for processes that left their instance's process group")
		}
		for _, r := range reqs {
			alive := r.p.swept(found, r)
			if r.then != nil {
				r.then(alive)
			}
		}
	}
}
