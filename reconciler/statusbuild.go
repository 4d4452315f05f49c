package reconciler

import (
	"slices"
	"sort"

	"github.com/reconciled/reconciled/status"
)

// statusBuild is what the last status build of a program left for the
// next: each instance's observed state and its part in the counts. A build
// after a pass that touched a few instances (an exit, a start, a probe
// verdict) copies the last list and observes again only those, so that it
// costs a copy of the list, not N observations. A pass that may have
// changed every instance (a full pass: new desired state, dependencies, a
// rollout), a change of what the parts depend on (the count wanted, the
// spec hash, waiting for dependencies) or an instance added or dropped
// makes the next build start over.
//
// The list handed to the sink is never written to again (StatusSink): a
// build writes into a copy.
type statusBuild struct {
	insts   []status.Instance // the last build's, in index order; the sink holds it
	parts   []countPart       // each one's part in sum
	order   []*instance       // the instances they were observed from (p.order then)
	key     buildKey          // what the parts depend on
	sum     counts
	touched []int // indexes of instances passes touched since (repeats allowed)
	all     bool  // a full pass ran since: observe every instance
	fresh   bool  // there has been a build
}

// buildKey is what an instance's part in the counts depends on beyond the
// instance itself.
type buildKey struct {
	want    int
	hash    string
	waiting bool
}

// countPart is one instance's part in the counts of a status: a bit per
// count it adds one to (one byte per instance, kept for thousands).
type countPart uint8

const (
	partAlive countPart = 1 << iota
	partExcess
	partReady
	partUpdated
	partFatal
	partWaiting
	partOutdated
	partFresh
)

// counts are the sums of the parts of a status's instances.
type counts struct {
	alive, excess, ready, updated, fatal, waiting, outdated, fresh int
}

// add adds part to c, or takes it away when sign is -1.
func (c *counts) add(part countPart, sign int) {
	bit := func(b countPart) int {
		if part&b != 0 {
			return sign
		}
		return 0
	}
	c.alive += bit(partAlive)
	c.excess += bit(partExcess)
	c.ready += bit(partReady)
	c.updated += bit(partUpdated)
	c.fatal += bit(partFatal)
	c.waiting += bit(partWaiting)
	c.outdated += bit(partOutdated)
	c.fresh += bit(partFresh)
}

// touch records the instances a pass may have changed.
func (b *statusBuild) touch(idxs []int) { b.touched = append(b.touched, idxs...) }

// touchAll records a pass that may have changed every instance.
func (b *statusBuild) touchAll() {
	b.all = true
	b.touched = b.touched[:0]
}

// part is in's part in the counts under key.
func (p *program) part(in *instance, key buildKey) countPart {
	var c countPart
	if in.live() {
		c |= partAlive
	}
	if in.idx >= key.want {
		return c | partExcess
	}
	if in.ready() {
		c |= partReady
	}
	if in.live() && in.hash == key.hash {
		c |= partUpdated
	}
	switch {
	case in.state() == Fatal:
		c |= partFatal
	case in.state() == Stopped && key.waiting:
		c |= partWaiting
	case in.hash != key.hash && in.state() != Exited:
		c |= partOutdated
	case in.state() == Stopped || in.state() == Starting && in.restarts == 0,
		in.state() == Running && !in.ready() && !in.everReady:
		c |= partFresh
	}
	return c
}

// observedInstances returns the observed instances, in index order, and the sum of
// their parts in the counts, observing again only what changed since the
// last build when it can.
func (p *program) observedInstances(want int) ([]status.Instance, counts) {
	b := &p.built
	order := p.sorted()
	key := buildKey{want: want, hash: p.cur.hash, waiting: p.waiting != ""}
	if !b.fresh || b.all || key != b.key || !sameOrder(order, b.order) {
		b.insts = make([]status.Instance, len(order))
		b.parts = make([]countPart, len(order))
		b.sum = counts{}
		for i, in := range order {
			b.insts[i] = in.observed(p.name)
			b.parts[i] = p.part(in, key)
			b.sum.add(b.parts[i], 1)
		}
	} else if len(b.touched) > 0 {
		b.insts = slices.Clone(b.insts)
		for _, idx := range b.touched {
			i := sort.Search(len(order), func(i int) bool { return order[i].idx >= idx })
			if i == len(order) || order[i].idx != idx {
				continue
			}
			b.sum.add(b.parts[i], -1)
			b.parts[i] = p.part(order[i], key)
			b.sum.add(b.parts[i], 1)
			b.insts[i] = order[i].observed(p.name)
		}
	}
	b.order, b.key, b.touched, b.all, b.fresh = order, key, b.touched[:0], false, true
	return b.insts, b.sum
}

// sameOrder reports whether a and b are the same slice (p.sorted keeps
// its slice until an instance is added or dropped).
func sameOrder(a, b []*instance) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// firstNotReady is the first instance, by index, of the current spec that
// has a process and is not ready: what the progress deadline's message
// names. It is looked for only once the deadline has passed.
func (p *program) firstNotReady() *instance {
	want := p.want()
	for _, in := range p.sorted() {
		if in.idx < want && in.hash == p.cur.hash && in.live() && !in.ready() {
			return in
		}
	}
	return nil
}
