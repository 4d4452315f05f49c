package proc

import (
	"context"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fullReapInterval bounds how often a reaper pass reads the children of every
// thread rather than of the main thread only (see childLister.orphans): it
// guards against a kernel that puts orphans elsewhere.
const fullReapInterval = time.Second

// groupRecheck is the safety re-check period of WaitGroupEmpty, for when a
// reaper verdict is missed (e.g. Run is not running).
const groupRecheck = time.Second

// Run reaps orphans until ctx is done: on every SIGCHLD it lists this process's
// direct children and reaps, with wait4(pid, WNOHANG), every zombie that is not
// a registered leader (nor protected, see the package documentation). Each
// pass also gives its verdict to the WaitGroupEmpty calls waiting for one.
//
// SIGCHLD coalesces (one pending signal stands for any number of exits), so a
// pass looks at every child, not at one pid per signal. Passes read only the
// main thread's children, where orphans land, and every thread's but the fork
// server's (leaderOnlyThreads) at most once a second (see childLister.orphans).
//
// After Close, Run returns at once.
func (s *Starter) Run(ctx context.Context) {
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		return
	}
	s.running = true
	s.lifeMu.Unlock()
	defer func() {
		s.lifeMu.Lock()
		s.running = false
		s.lifeMu.Unlock()
	}()
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGCHLD)
	defer signal.Stop(ch)
	s.reap(true)
	lastFull := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			s.reap(false)
		case <-ch:
			s.exits.drain() // the exit watcher's safety net (see exitWatcher)
			full := time.Since(lastFull) >= fullReapInterval
			if full {
				lastFull = time.Now()
			}
			s.reap(full)
		}
	}
}

// reap is one reaper pass. It lists children and picks the zombies to reap
// without holding spawnMu, so that Start is not held up by the listing: the
// write lock is taken only when there is a candidate, and the candidate is
// checked again under it. That second check is what makes it safe: under the
// write lock no Start is between fork and register, so a child that is not
// registered then is not a leader.
//
// A pass lists the children of the main thread only, where Linux puts every
// orphan, unless full is set.
func (s *Starter) reap(full bool) {
	s.groupMu.Lock()
	s.passes++
	seq := s.passes
	s.groupMu.Unlock()
	live := map[int]bool{}
	var kids []int
	var err error
	if full {
		kids, err = s.lister.childrenExcept(s.leaderOnlyThreads())
	} else {
		kids, err = s.lister.orphans()
	}
	if err != nil {
		s.log.Error(err, "List children")
	}
	// Leaders are most of the children: drop them under one lock.
	s.regMu.Lock()
	cands := kids[:0]
	for _, pid := range kids {
		_, leader := s.leaders[pid]
		_, unmanaged := s.unmanaged[pid]
		if !leader && !unmanaged {
			cands = append(cands, pid)
		}
	}
	s.regMu.Unlock()
	var zombies []int
	for _, pid := range cands {
		st, err := readStat(pid)
		if err != nil {
			continue // gone
		}
		if st.state != 'Z' {
			if !st.dead() {
				live[st.pgid] = true // an orphan keeps its group alive
			}
			continue
		}
		if st.pgid == s.selfPgid {
			// A child started by other code in our own group (os/exec
			// without Setpgid): its starter reaps it.
			continue
		}
		zombies = append(zombies, pid)
	}
	reaped := false
	if len(zombies) > 0 {
		s.spawnMu.Lock()
		for _, pid := range zombies {
			if s.protected(pid) {
				continue // a leader whose Start was in flight
			}
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			if err != nil || wpid != pid {
				continue
			}
			reaped = true
			if s.log.V(1).Enabled() {
				s.log.V(1).Info("Reaped orphan", "pid", pid, "exitCode", ws.ExitStatus())
			}
		}
		s.spawnMu.Unlock()
	}
	if reaped {
		// The listing had what this pass reaped: the next one may find
		// none left, and give the final verdict (see judgeGroups).
		s.requestPass()
	}
	// An empty listing of the main thread's children is final at once:
	// nothing in it could have been skipped (see groupAlive).
	s.judgeGroups(seq, live, err == nil && !full && len(kids) == 0)
}

// leaderOnlyThreads returns the threads whose children are all leaders,
// registered or about to be (their Start holds spawnMu for reading until
// it registers): the fork server's, whose failed children it reaps itself.
// A full pass skips them: the leaders listed there, thousands, would be
// dropped anyway, and an orphan never lands on them (see orphans).
func (s *Starter) leaderOnlyThreads() map[string]bool {
	s.forkMu.Lock()
	server := s.server
	s.forkMu.Unlock()
	t, ok := server.(interface{ threads() []int })
	if !ok {
		return nil
	}
	skip := map[string]bool{}
	for _, tid := range t.threads() {
		skip[strconv.Itoa(tid)] = true
	}
	return skip
}

// groupWaiter is one WaitGroupEmpty or OnGroupEmpty waiting for the
// reaper's verdict on the group pgid, whose leader's exit was observed before
// pass after+1. The verdict "empty" closes done (WaitGroupEmpty) or calls f
// (OnGroupEmpty).
type groupWaiter struct {
	pgid    int
	after   uint64
	empties int // passes in a row that found the group empty
	done    chan struct{}
	f       func()
}

// judgeGroups gives pass seq's verdict to the waiters: a group with a live
// orphan is not empty; one without is empty after two such passes in a row
// (a listing may skip a child, see groupAlive), or after one whose listing
// was empty (final). A waiter counts only passes started after it began
// waiting, which is after its leader's exit was observed, and so after the
// kernel reparented the leader's children to this process.
func (s *Starter) judgeGroups(seq uint64, live map[int]bool, final bool) {
	var calls []func() // OnGroupEmpty's, called once the lock is let go
	s.groupMu.Lock()
	if final {
		s.finalPass = seq
	}
	again := false
	for w := range s.groupWaiters {
		switch {
		case seq <= w.after:
			again = true // began waiting during this pass: the next one counts
		case live[w.pgid]:
			w.empties = 0 // the next SIGCHLD brings the next pass
		default:
			w.empties++
			if final || w.empties == 2 {
				delete(s.groupWaiters, w)
				if w.f != nil {
					calls = append(calls, w.f)
				} else {
					close(w.done)
				}
			} else {
				again = true
			}
		}
	}
	s.groupMu.Unlock()
	if again {
		s.requestPass()
	}
	for _, f := range calls {
		f()
	}
}

// addGroupWaiter registers w for the verdicts of the passes that start from
// now on, which are after its leader's exit was observed, and asks for one.
func (s *Starter) addGroupWaiter(w *groupWaiter) {
	s.groupMu.Lock()
	w.after = s.passes // passes numbered above this started after the exit
	if s.groupWaiters == nil {
		s.groupWaiters = make(map[*groupWaiter]struct{})
	}
	s.groupWaiters[w] = struct{}{}
	s.groupMu.Unlock()
	s.requestPass()
}

// requestPass asks Run for a reaper pass soon; requests coalesce.
func (s *Starter) requestPass() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// protected reports whether pid is a registered leader or unmanaged child.
func (s *Starter) protected(pid int) bool {
	s.regMu.Lock()
	_, leader := s.leaders[pid]
	_, unmanaged := s.unmanaged[pid]
	s.regMu.Unlock()
	return leader || unmanaged
}

// groupAlive reports whether the leader's process group still has a live
// member. While the leader runs it is true.
//
// After the leader exited, the answer relies on reparenting: the kernel hands
// the leader's surviving children to the nearest subreaper, this daemon, before
// the leader's exit becomes visible (exit_notify reparents before the pidfd is
// notified). So groupAlive scans only this process's direct children, skips
// registered leaders, and looks for a live (non-zombie) one whose pgid is the
// leader's pid: one such child is enough, as each group member is either one
// or a descendant of one.
//
// Edge cases it misses: a group member whose whole chain of ancestors up to
// this daemon left the group (setpgid/setsid in an intermediate process, a
// member below it stays), and members that were reparented to another
// subreaper below the daemon. Both need a program that changes groups on
// purpose. It requires BecomeSubreaper; without it orphans go to init and are
// not seen.
func (p *Process) groupAlive() bool {
	if !p.exited() {
		return true
	}
	// The kernel's children files are not a snapshot: a list read while
	// another child is being reaped may skip an entry (see get_children_pid
	// in fs/proc/array.c). "Empty" is final for the caller (it releases the
	// leader), so it takes two listings that agree.
	for range 2 {
		alive, err := p.liveMemberListed()
		if err != nil {
			p.starter.log.Error(err, "List children")
			return true // cannot tell: assume alive, callers then SIGKILL or wait
		}
		if alive {
			return true
		}
	}
	return false
}

// liveMemberListed reports whether a listed direct child that is not a leader
// is a live member of p's group.
func (p *Process) liveMemberListed() (bool, error) {
	s := p.starter
	kids, err := s.lister.children()
	if err != nil {
		return false, err
	}
	for _, pid := range kids {
		if s.isLeader(pid) {
			continue
		}
		st, err := readStat(pid)
		if err == nil && st.pgid == p.pid && !st.dead() {
			return true, nil
		}
	}
	return false, nil
}

// GroupGone reports, without waiting, whether the leader has exited and the
// reaper already knows its group to be empty: a pass that started after the
// exit was observed found no child of the main thread at all (final, see
// judgeGroups). In a burst of exits, passes run back to back and this is
// usually known by the time the exit is handled. false means only "not
// known now": WaitGroupEmpty tells.
func (p *Process) GroupGone() bool {
	if !p.exitObserved() {
		return false
	}
	s := p.starter
	s.groupMu.Lock()
	defer s.groupMu.Unlock()
	return s.finalPass > p.exitPass
}

// WaitGroupEmpty waits until the leader has exited and its group has no live
// member left, or ctx is done.
//
// It takes its answer from the reaper's passes, which record the groups of
// the live orphans they see, so that a thousand instances stopping at once
// share one listing of the children instead of listing them a thousand
// times, and the pass hands each waiter its verdict (judgeGroups): nothing
// wakes a waiter but its own answer. Only passes started after the leader's
// exit was seen count (the kernel reparents the leader's children before
// that). Without a running reaper it falls back to groupAlive, checked
// every second.
func (p *Process) WaitGroupEmpty(ctx context.Context) error {
	if _, err := p.Wait(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	s := p.starter
	w := &groupWaiter{pgid: p.pid, done: make(chan struct{})}
	s.addGroupWaiter(w)
	defer func() {
		s.groupMu.Lock()
		delete(s.groupWaiters, w)
		s.groupMu.Unlock()
	}()
	tick := time.NewTicker(groupRecheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.done:
			return nil
		case <-tick.C:
			if !p.groupAlive() {
				return nil
			}
		}
	}
}

// OnGroupEmpty calls f once the leader has exited and its group has no live
// member left, as WaitGroupEmpty tells, but with no goroutine and no timer
// per waiter: a stop of a thousand instances waits on the reaper's passes
// alone. f runs on the reaper's goroutine and must not block. It needs Run
// (the daemon's reaper), which is what gives the verdicts; a group that never
// empties never calls f, and its waiter stays until the Starter is dropped.
// Registered before the leader's exit was observed, it waits for that first.
func (p *Process) OnGroupEmpty(f func()) {
	wait := func() { p.starter.addGroupWaiter(&groupWaiter{pgid: p.pid, f: f}) }
	if p.exitObserved() {
		wait() // the usual case, and OnExit would take a goroutine for it
		return
	}
	p.OnExit(wait)
}
