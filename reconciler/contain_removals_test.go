package reconciler

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"
)

// removals records what a removalQueue removed.
type removals struct {
	mu   sync.Mutex
	done map[*cgroupProcess]int
}

func (r *removals) remove(p *cgroupProcess) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		r.done = map[*cgroupProcess]int{}
	}
	r.done[p]++
}

func (r *removals) count(p *cgroupProcess) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done[p]
}

// heldQueue is a queue that holds removals back for longer than any test
// runs: only a flush, the context's end or a take lets one go.
func heldQueue(ctx context.Context) *removalQueue {
	q := newRemovalQueue(ctx)
	q.quiet, q.most = time.Hour, time.Hour
	return q
}

func TestRemovalQueueTakeOverAndFlush(t *testing.T) {
	q := heldQueue(t.Context())
	var wg sync.WaitGroup
	var r removals
	ps := make([]*cgroupProcess, 4)
	for i := range ps {
		ps[i] = &cgroupProcess{}
		q.add(&wg, removalKey("web", "web-"+strconv.Itoa(i)), ps[i], r.remove)
	}
	if got := q.take(removalKey("web", "web-1")); got != ps[1] {
		t.Fatalf("take(web-1) = %p, want %p", got, ps[1])
	}
	if got := q.take(removalKey("web", "web-1")); got != nil {
		t.Fatalf("second take(web-1) = %p, want nil", got)
	}
	if got := q.take(removalKey("web", "web-9")); got != nil {
		t.Fatalf("take(web-9) = %p, want nil", got)
	}
	// Taken over, then released again: the new process is queued under
	// the same key, the old one's entry is skipped.
	again := &cgroupProcess{}
	q.add(&wg, removalKey("web", "web-1"), again, r.remove)
	for _, p := range ps {
		if n := r.count(p); n != 0 {
			t.Fatalf("removed %d times before the flush", n)
		}
	}
	q.flush()
	wg.Wait()
	for i, p := range ps {
		want := 1
		if i == 1 {
			want = 0 // the taker removes it
		}
		if n := r.count(p); n != want {
			t.Errorf("web-%d removed %d times, want %d", i, n, want)
		}
	}
	if n := r.count(again); n != 1 {
		t.Errorf("web-1's next process removed %d times, want 1", n)
	}
}

func TestRemovalQueueContextEndHoldsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	q := heldQueue(ctx)
	var wg sync.WaitGroup
	var r removals
	p := &cgroupProcess{}
	q.add(&wg, removalKey("web", "web-0"), p, r.remove)
	cancel()
	wg.Wait()
	if n := r.count(p); n != 1 {
		t.Fatalf("removed %d times, want 1", n)
	}
	// Once the context has ended, an added removal is not held back.
	p2 := &cgroupProcess{}
	q.add(&wg, removalKey("web", "web-1"), p2, r.remove)
	wg.Wait()
	if n := r.count(p2); n != 1 {
		t.Fatalf("removed %d times after the end, want 1", n)
	}
}

func TestRemovalQueueQuietLetsGo(t *testing.T) {
	q := newRemovalQueue(t.Context())
	q.quiet, q.most = time.Millisecond, time.Millisecond
	var wg sync.WaitGroup
	var r removals
	p := &cgroupProcess{}
	q.add(&wg, removalKey("web", "web-0"), p, r.remove)
	wg.Wait() // ends only once the queue is empty
	if n := r.count(p); n != 1 {
		t.Fatalf("removed %d times, want 1", n)
	}
}

// Every queued removal is carried out exactly once, by the queue or by
// whoever takes it, however the two race.
func TestRemovalQueueExactlyOnce(t *testing.T) {
	q := newRemovalQueue(t.Context())
	q.quiet, q.most = 0, 0
	var wg sync.WaitGroup
	var r removals
	const n = 200
	ps := make([]*cgroupProcess, n)
	for i := range ps {
		ps[i] = &cgroupProcess{}
	}
	var takers sync.WaitGroup
	taken := make([]bool, n)
	for i := range ps {
		q.add(&wg, removalKey("web", "web-"+strconv.Itoa(i)), ps[i], r.remove)
		if i%2 == 0 {
			takers.Add(1)
			go func() {
				defer takers.Done()
				if got := q.take(removalKey("web", "web-"+strconv.Itoa(i))); got != nil {
					taken[i] = true
					r.remove(got)
				}
			}()
		}
	}
	takers.Wait()
	wg.Wait()
	for i, p := range ps {
		if c := r.count(p); c != 1 {
			t.Errorf("web-%d removed %d times (taken: %v), want 1", i, c, taken[i])
		}
	}
}

// A Create that finds its instance's cgroup being removed by the queue
// waits until that is done (the cgroup's name is free then), and removes
// nothing itself.
func TestRemovalQueueTakeWaitsForRemoval(t *testing.T) {
	q := newRemovalQueue(t.Context())
	q.quiet, q.most = 0, 0
	var wg sync.WaitGroup
	var r removals
	started, unblock := make(chan struct{}), make(chan struct{})
	p := &cgroupProcess{}
	q.add(&wg, removalKey("web", "web-0"), p, func(p *cgroupProcess) {
		close(started)
		<-unblock
		r.remove(p)
	})
	<-started
	took := make(chan *cgroupProcess)
	go func() { took <- q.take(removalKey("web", "web-0")) }()
	select {
	case got := <-took:
		t.Fatalf("take returned %p while the removal runs", got)
	default:
	}
	close(unblock)
	if got := <-took; got != nil {
		t.Errorf("take = %p, want nil: the queue removed it", got)
	}
	if n := r.count(p); n != 1 {
		t.Errorf("removed %d times, want 1", n)
	}
	wg.Wait()
}

// The hold is asked again before each removal: a release that comes while
// the queue removes holds the rest back for quiet again, and the oldest
// queued still bounds the wait (most).
func TestRemovalQueueHoldsBackAgain(t *testing.T) {
	q := newRemovalQueue(t.Context())
	q.quiet, q.most = 20*time.Millisecond, time.Second
	t0 := time.Now()
	queue := func(key string, at time.Time) *queuedRemoval {
		r := &queuedRemoval{key: key, at: at, p: &cgroupProcess{}, done: make(chan struct{})}
		q.pending[key] = r
		q.order = append(q.order, r)
		q.last = at
		return r
	}
	r0 := queue("web/web-0", t0)
	r1 := queue("web/web-1", t0)
	if r, wait := q.next(t0.Add(5 * time.Millisecond)); r != nil || wait != 15*time.Millisecond {
		t.Fatalf("5ms after the last release: next = %v, %v; want to wait 15ms", r, wait)
	}
	if r, _ := q.next(t0.Add(20 * time.Millisecond)); r != r0 || !r0.claimed {
		t.Fatalf("after the quiet: next = %v; want web-0, claimed", r)
	}
	// While web-0 is removed, another release comes.
	queue("web/web-2", t0.Add(25*time.Millisecond))
	if r, wait := q.next(t0.Add(30 * time.Millisecond)); r != nil || wait != 15*time.Millisecond {
		t.Fatalf("5ms after a release that came meanwhile: next = %v, %v; want to wait 15ms", r, wait)
	}
	// Releases that never pause: web-1, queued first, waits at most most.
	q.last = t0.Add(time.Second)
	if r, _ := q.next(t0.Add(time.Second)); r != r1 {
		t.Fatalf("at most after web-1 was queued: next = %v; want web-1", r)
	}
	// A removal taken over by a Create is skipped; an empty queue says so.
	delete(q.pending, "web/web-2")
	if r, wait := q.next(t0.Add(2 * time.Second)); r != nil || wait != 0 || len(q.order) != 0 {
		t.Fatalf("with web-2 taken over: next = %v, %v (%d queued); want an empty queue", r, wait, len(q.order))
	}
}
