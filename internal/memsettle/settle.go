package memsettle

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/reconciled/reconciled/internal/clock"
)

// DefaultQuiet is how long no work must come before a Settler settles.
const DefaultQuiet = 5 * time.Second

// minFreeable is the least a settle must be able to give back: below it
// the collection would cost more than the pages are worth.
const minFreeable = 1 << 20

// Settler runs one collection and returns free memory to the kernel once
// no Touch came for its quiet period. Safe for concurrent use.
//
// One timer at most is armed, and only by work: Touch records the time
// and arms the timer if none is; when it fires early (work came since it
// was armed), it re-arms itself for what is left of the quiet period.
type Settler struct {
	quiet time.Duration
	clock clock.Clock
	// trims let go of caches that only speed up work (Writer.Trim).
	trims []func() bool
	// settle is what runs when the quiet period ends, told whether a trim
	// let go of something (tests replace it).
	settle func(trimmed bool) bool

	mu      sync.Mutex
	allocs  uint64      // the heap's allocations (bytes, cumulative) at the last settle
	slack   uint64      // the heap's free bytes right after the last settle: what it could not give back
	last    time.Time   // the last Touch
	timer   clock.Timer // the armed timer; nil when none is
	stopped bool
}

// New returns a Settler with the quiet period quiet (DefaultQuiet if zero
// or less) on clk (the real clock if nil). Each settle first calls every
// trim, which lets go of a cache and reports whether it held anything.
func New(quiet time.Duration, clk clock.Clock, trims ...func() bool) *Settler {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	if clk == nil {
		clk = clock.Real{}
	}
	s := &Settler{quiet: quiet, clock: clk, trims: trims}
	s.settle = s.Settle
	return s
}

// Touch says work was done: the settle waits for quiet from now on.
func (s *Settler) Touch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = s.clock.Now()
	if s.timer == nil && !s.stopped {
		s.timer = s.clock.AfterFunc(s.quiet, s.fire)
	}
}

// fire settles when the quiet period has passed since the last Touch, and
// otherwise waits for the rest of it.
func (s *Settler) fire() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	if left := s.quiet - s.clock.Now().Sub(s.last); left > 0 {
		s.timer = s.clock.AfterFunc(left, s.fire)
		s.mu.Unlock()
		return
	}
	s.timer = nil
	s.mu.Unlock()
	trimmed := false
	for _, trim := range s.trims {
		if trim() {
			trimmed = true
		}
	}
	s.settle(trimmed)
}

// Stop cancels a pending settle; Touch arms nothing afterwards.
func (s *Settler) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// Settle collects and returns free memory to the kernel when a trim let go
// of something (trimmed) or that is worth it by itself (see worth), and
// reports whether it did.
func (s *Settler) Settle(trimmed bool) bool {
	m := read()
	s.mu.Lock()
	since, slack := m.allocs-s.allocs, s.slack
	s.mu.Unlock()
	if !trimmed && !worth(m, since, slack) {
		return false
	}
	debug.FreeOSMemory()
	after := read()
	s.mu.Lock()
	s.allocs, s.slack = after.allocs, after.free
	s.mu.Unlock()
	return true
}

// worth reports whether a collection and a return to the kernel could give
// back enough: the heap's free pages not yet returned plus what was
// allocated since the last settle (the garbage of the burst is in there),
// at least minFreeable and a quarter of the live heap. Free pages up to
// slack do not count: the runtime kept that much right after the last
// settle's return (pages it does not give back, a megabyte or two at
// times), and another settle would not give them back either.
func worth(m heapMetrics, allocatedSince, slack uint64) bool {
	n := m.free - min(m.free, slack) + allocatedSince
	return n >= minFreeable && n*4 >= m.live
}

type heapMetrics struct {
	free, allocs, live uint64
}

// read takes the runtime's heap metrics; all zero on a runtime without
// them (then nothing is ever worth a settle).
func read() heapMetrics {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(samples)
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return heapMetrics{}
		}
	}
	return heapMetrics{free: samples[0].Value.Uint64(), allocs: samples[1].Value.Uint64(), live: samples[2].Value.Uint64()}
}
