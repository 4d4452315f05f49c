package reconciler

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/reconciled/reconciled/spec"
)

// depState is what a program shows the programs that depend on it: counts
// over its wanted instances.
type depState struct {
	want      int // instances desired now; 0 when stopped, deleted or shutting down
	started   int // RUNNING
	ready     int
	completed int // EXITED with a success code
	alive     int // instances with a process, wanted or not (shutdown order)
}

// depGraph is the daemon's view of every program's depState and of who
// depends on whom; programs share it. A program reports its state after every
// pass; a change wakes the programs on either side of it: its dependents
// (they may start now) and what it depends on (at shutdown they wait for
// their dependents to stop).
//
// It also counts losses (dependsOn[].onLost): a program that met a
// condition and no longer does, because an instance that counted stopped
// counting (it exited, stopped, restarted or was replaced) or because none
// is wanted any more (desired: stopped, deleted). A scale-up that is still
// starting is no loss. Each loss gets the next number of one daemon-wide
// count, so that a dependent compares the number of a dependency's latest
// loss with the count when it started a process: a loss it missed, because
// the dependency came back before the dependent looked, still counts.
type depGraph struct {
	mu     sync.Mutex
	states map[string]depState
	needs  map[string][]string // program -> the programs its applied spec depends on
	wakes  map[string]chan struct{}
	losses uint64                       // the losses counted so far
	lost   map[string]*[numConds]uint64 // program -> the number of its latest loss of each condition; 0: none
}

func newDepGraph() *depGraph {
	return &depGraph{states: map[string]depState{}, needs: map[string][]string{}, wakes: map[string]chan struct{}{},
		lost: map[string]*[numConds]uint64{}}
}

// The conditions, as indexes of depGraph.lost.
const (
	condStarted = iota
	condReady
	condCompleted
	numConds
)

func condIndex(c spec.DependencyCondition) int {
	switch c {
	case spec.DependencyReady:
		return condReady
	case spec.DependencyCompleted:
		return condCompleted
	}
	return condStarted
}

// count is how many instances of st meet condition c.
func (st depState) count(c int) int {
	switch c {
	case condReady:
		return st.ready
	case condCompleted:
		return st.completed
	}
	return st.started
}

// meets reports whether st meets condition c.
func (st depState) meets(c int) bool { return st.want > 0 && st.count(c) >= st.want }

// noteLosses counts the conditions name met in old and no longer meets in
// st, but for a scale-up still on its way. g.mu is held.
func (g *depGraph) noteLosses(name string, old, st depState) {
	for c := range numConds {
		if old.meets(c) && !st.meets(c) && (st.want == 0 || st.count(c) < old.count(c)) {
			g.losses++
			if g.lost[name] == nil {
				g.lost[name] = new([numConds]uint64)
			}
			g.lost[name][c] = g.losses
		}
	}
}

// join registers the program name, woken through wake (cap 1) on a change of
// a program it is linked to.
func (g *depGraph) join(name string, wake chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wakes[name] = wake
}

// leave forgets the program name: its dependents see it as not found.
func (g *depGraph) leave(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.states[name]; ok {
		g.noteLosses(name, old, depState{})
	}
	delete(g.states, name)
	delete(g.wakes, name)
	g.wakeLinked(name)
	delete(g.needs, name)
}

// setNeeds records what the applied spec of name depends on, and wakes
// those programs: they may not have reported their state yet (see linked).
func (g *depGraph) setNeeds(name string, deps []spec.Dependency) {
	names := make([]string, len(deps))
	for i, d := range deps {
		names[i] = d.Program
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.needs[name] = names
	for _, n := range names {
		g.wake(n)
	}
}

// linked reports whether name depends on a program or one depends on it:
// only then are its counts of use to anyone. An unlinked program's last
// counts are dropped, so that a dependent added later does not trust them
// ("pending" until name reports afresh).
func (g *depGraph) linked(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.needs[name]) > 0 {
		return true
	}
	for _, needs := range g.needs {
		if slices.Contains(needs, name) {
			return true
		}
	}
	delete(g.states, name)
	return false
}

// report records the state of name; a change wakes the linked programs.
func (g *depGraph) report(name string, st depState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old, ok := g.states[name]
	if ok && old == st {
		return
	}
	if ok {
		g.noteLosses(name, old, st)
	}
	g.states[name] = st
	g.wakeLinked(name)
}

// wakeLinked wakes the dependents of name and what name depends on. g.mu is
// held.
func (g *depGraph) wakeLinked(name string) {
	for other, needs := range g.needs {
		for _, n := range needs {
			if n == name {
				g.wake(other)
			}
		}
	}
	for _, n := range g.needs[name] {
		g.wake(n)
	}
}

func (g *depGraph) wake(name string) {
	if c := g.wakes[name]; c != nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// unmet says what of deps is not met yet, as an instance's message shows
// it ("waiting for db: 1/2 ready, cache: not found"); "" when all are met.
func (g *depGraph) unmet(deps []spec.Dependency) string {
	return g.look(deps).waiting
}

// depLook is what the graph says of a program's dependencies at one moment.
type depLook struct {
	waiting string // as unmet says it
	// epoch is the losses counted so far: a process started now started
	// after each of them.
	epoch uint64
	// why (not met: why not; met: "") and lostAt (the number of the
	// latest loss of its condition; 0: none) are per dependency.
	why    []string
	lostAt []uint64
}

// look tells where deps stand.
func (g *depGraph) look(deps []spec.Dependency) depLook {
	if len(deps) == 0 {
		return depLook{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	l := depLook{epoch: g.losses, why: make([]string, len(deps)), lostAt: make([]uint64, len(deps))}
	var parts []string
	for i, d := range deps {
		if why := g.check(d); why != "" {
			l.why[i] = why
			parts = append(parts, d.Program+": "+why)
		}
		if at := g.lost[d.Program]; at != nil {
			l.lostAt[i] = at[condIndex(d.Condition)]
		}
	}
	if len(parts) > 0 {
		l.waiting = "waiting for " + strings.Join(parts, ", ")
	}
	return l
}

// check says why d is not met, or "". g.mu is held.
func (g *depGraph) check(d spec.Dependency) string {
	st, ok := g.states[d.Program]
	switch {
	case !ok && g.wakes[d.Program] != nil:
		return "pending" // it exists, and reports once it learns it is needed
	case !ok:
		return "not found"
	case st.want == 0:
		return "stopped"
	}
	var have int
	var what string
	switch d.Condition {
	case spec.DependencyReady:
		have, what = st.ready, "ready"
	case spec.DependencyCompleted:
		have, what = st.completed, "completed"
	default:
		have, what = st.started, "started"
	}
	if have >= st.want {
		return ""
	}
	return fmt.Sprintf("%d/%d %s", have, st.want, what)
}

// dependentsAlive reports whether a program that depends on name still has
// a live instance: at shutdown, name waits for them to stop first. A
// dependent that name itself depends on, directly or not, is not waited
// for: the loop keeps cycles out of the applied specs, and should one slip
// through, shutdown must not wait on it forever.
func (g *depGraph) dependentsAlive(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for other, needs := range g.needs {
		if g.states[other].alive > 0 && slices.Contains(needs, name) && !g.reaches(name, other) {
			return true
		}
	}
	return false
}

// reaches reports whether from depends on to, directly or not. g.mu is held.
func (g *depGraph) reaches(from, to string) bool {
	seen := map[string]bool{from: true}
	stack := []string{from}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range g.needs[v] {
			if w == to {
				return true
			}
			if !seen[w] {
				seen[w] = true
				stack = append(stack, w)
			}
		}
	}
	return false
}

// checkDependencies updates p.waiting and p.lost from the dependencies'
// states.
func (p *program) checkDependencies() {
	waiting := ""
	lost := lostView{}
	if p.deps != nil && p.cur.prog != nil {
		look := p.deps.look(p.cur.prog.Spec.DependsOn)
		waiting = look.waiting
		lost = p.noteLost(p.cur.prog.Spec.DependsOn, look)
	}
	if lost.stop != p.lost.stop || lost.restart != p.lost.restart {
		p.dirty = true
		p.full = true // every instance the loss concerns is stopped or restarted
	}
	p.lost = lost
	if waiting == p.waiting {
		return
	}
	if waiting == "" {
		p.progressAt = p.clock.Now() // the progress deadline counts from here
	}
	p.waiting = waiting
	p.dirty = true
	p.full = true // every STOPPED instance may start, or show what it waits for
}

// reportDependencyState tells the graph what dependents of p need to know.
func (p *program) reportDependencyState(want int) {
	if p.deps == nil || !p.deps.linked(p.name) {
		return // nobody needs the counts: save the walk over the instances
	}
	st := depState{want: want}
	for _, in := range p.instances {
		if in.live() {
			st.alive++
		}
		if in.idx >= want {
			continue
		}
		if in.state() == Running {
			st.started++
		}
		if in.ready() {
			st.ready++
		}
		if in.succeeded() {
			st.completed++
		}
	}
	p.deps.report(p.name, st)
}
