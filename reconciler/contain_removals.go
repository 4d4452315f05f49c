package reconciler

import (
	"context"
	"sync"
	"time"
)

// Default hold of removalQueue: how long releases must have stopped
// coming, and how long the oldest removal may wait at most.
const (
	removalQuiet = 20 * time.Millisecond
	removalMost  = time.Second
)

// removalQueue holds back the removal of released instances' cgroups while
// releases keep coming. An rmdir of a cgroup costs the kernel about as much
// as the rest of what the daemon does for a stopped instance (it removes
// every control file, under the cgroup mutex), and in a stop of many the
// exits keep both CPUs busy: removed as they came, the rmdirs would delay
// the last reaps by their whole cost. Held back, they run once releases
// have paused for quiet (or the oldest has waited most), and at once when
// the daemon shuts down (its context ends) or is flushed. The hold is
// asked again before each removal, so a release that comes while they run
// (the pause was a stall of a busy stop, not its end) holds the rest back
// again after one rmdir.
//
// A held-back removal never delays the instance's next process: the
// Create of the same instance takes it over (take) and removes the old
// cgroup itself, first. So an index still never has two cgroups at once,
// and every process starts in a fresh one (OOMKilled counts on that).
//
// Each queued process is removed exactly once, by whoever claims it: the
// queue's goroutine or a Create. A Create that finds the queue's goroutine
// removing its instance's cgroup waits until it is done.
type removalQueue struct {
	ctx         context.Context // the daemon's: once done, nothing is held back
	quiet, most time.Duration

	mu      sync.Mutex
	pending map[string]*queuedRemoval // by instance (removalKey), until removed or taken
	order   []*queuedRemoval          // in the order queued; taken ones are skipped
	last    time.Time                 // when the latest was queued
	running bool                      // a goroutine carries them out
	flushed bool                      // hold nothing back from now on
	wake    chan struct{}             // a flush for the goroutine's wait
}

// queuedRemoval is a removal in the queue.
type queuedRemoval struct {
	key     string
	at      time.Time // when it was queued
	p       *cgroupProcess
	claimed bool          // by the queue's goroutine, which removes it (guarded by the queue's mu)
	done    chan struct{} // closed once the queue's goroutine removed it
}

func newRemovalQueue(ctx context.Context) *removalQueue {
	return &removalQueue{ctx: ctx, quiet: removalQuiet, most: removalMost,
		pending: map[string]*queuedRemoval{}, wake: make(chan struct{}, 1)}
}

// removalKey names instance idx of program: the directory of its cgroup
// below the root.
func removalKey(program, instance string) string { return program + "/" + instance }

// add queues the removal of p, the process of the instance key names
// (removalKey). wg counts the goroutine (see backlog.add: every add
// happens before the wait).
func (q *removalQueue) add(wg *sync.WaitGroup, key string, p *cgroupProcess, remove func(*cgroupProcess)) {
	now := time.Now()
	q.mu.Lock()
	r := &queuedRemoval{key: key, at: now, p: p, done: make(chan struct{})}
	q.pending[key] = r
	q.order = append(q.order, r)
	q.last = now
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		wg.Add(1)
		go q.run(wg, remove)
	}
}

// take returns the queued removal of the instance key names, if any, and
// takes it out of the queue: the caller removes it. One the queue's
// goroutine is carrying out already, it waits for, and returns nil.
func (q *removalQueue) take(key string) *cgroupProcess {
	q.mu.Lock()
	r := q.pending[key]
	switch {
	case r == nil:
		q.mu.Unlock()
		return nil
	case !r.claimed:
		delete(q.pending, key)
		q.mu.Unlock()
		return r.p
	}
	q.mu.Unlock()
	<-r.done
	return nil
}

// flush stops holding removals back, for good: the daemon is ending.
func (q *removalQueue) flush() {
	q.mu.Lock()
	q.flushed = true
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// holding reports whether removals are held back: not once the daemon's
// context has ended or the queue was flushed.
func (q *removalQueue) holding() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.flushed && q.ctx.Err() == nil
}

// next returns the removal to carry out now, claimed, or how long the
// queued ones wait (0 and nil: the queue is empty). Removals taken over by
// a Create are dropped from the order on the way. Called with q.mu held.
func (q *removalQueue) next(now time.Time) (*queuedRemoval, time.Duration) {
	for len(q.order) > 0 && q.pending[q.order[0].key] != q.order[0] {
		q.pop() // taken over by a Create
	}
	if len(q.order) == 0 {
		return nil, 0
	}
	if !q.flushed && q.ctx.Err() == nil {
		due := q.last.Add(q.quiet)
		if most := q.order[0].at.Add(q.most); most.Before(due) {
			due = most
		}
		if wait := due.Sub(now); wait > 0 {
			return nil, wait
		}
	}
	r := q.pop()
	r.claimed = true
	return r, 0
}

// pop takes the oldest queued removal out of the order. Called with q.mu
// held.
func (q *removalQueue) pop() *queuedRemoval {
	r := q.order[0]
	q.order[0] = nil // the array must not pin it
	q.order = q.order[1:]
	if len(q.order) == 0 {
		q.order = nil
	}
	return r
}

func (q *removalQueue) run(wg *sync.WaitGroup, remove func(*cgroupProcess)) {
	defer wg.Done()
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		q.mu.Lock()
		r, wait := q.next(time.Now())
		if r == nil && wait == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		if r == nil {
			if t == nil {
				t = time.NewTimer(wait)
			} else {
				t.Reset(wait)
			}
			select {
			case <-t.C:
			case <-q.wake:
			case <-q.ctx.Done():
			}
			continue
		}
		remove(r.p)
		q.mu.Lock()
		if q.pending[r.key] == r {
			delete(q.pending, r.key)
		}
		q.mu.Unlock()
		close(r.done)
	}
}
