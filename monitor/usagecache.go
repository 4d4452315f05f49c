package monitor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/usage"
)

// usageKey names one process of one instance: figures read for a process
// are never shown for the next one.
type usageKey struct {
	program string
	index   int
	pid     int
}

// usageSample is what a scrape shows of an instance's usage.
type usageSample struct{ cpuSeconds, memoryBytes float64 }

// usageSnapshot is the result of one read of every instance's usage.
type usageSnapshot struct {
	at      time.Time // when the read began: every figure is at least this fresh
	samples map[usageKey]usageSample
}

// usageReader reads the usage of every instance with a process, or
// returns nil when stop is closed before it is done. It reads files.
type usageReader func(stop <-chan struct{}) map[usageKey]usageSample

// usageCache keeps the instances' usage for the scrapes, which read no
// file: a scrape shows the last snapshot, and when that is older than
// every (or than soonest while it lacks a running instance: one that just
// started) it starts a read in the background for the scrapes after it.
// At most one read runs at a time, and none runs when nobody scrapes.
//
// The figures a scrape shows are therefore at most every plus the time
// since the scrape before it old (plus one read's duration while a read is
// slow): with Prometheus scraping less often than every, each scrape
// shows the figures read right after the one before.
type usageCache struct {
	read           usageReader
	clock          clock.Clock
	every, soonest time.Duration

	cur atomic.Pointer[usageSnapshot]

	// mu is the cache's own: it guards starting and stopping reads, never
	// a read itself.
	mu      sync.Mutex
	reading bool
	closed  bool
	stop    chan struct{} // closed by close: a read in progress gives up
	wg      sync.WaitGroup
}

func newUsageCache(read usageReader, c clock.Clock, every time.Duration) *usageCache {
	return &usageCache{read: read, clock: c, every: every, soonest: min(every, time.Second), stop: make(chan struct{})}
}

// current returns the last snapshot; nil before the first read has ended.
func (u *usageCache) current() *usageSnapshot { return u.cur.Load() }

// scraped is told by a scrape which snapshot it showed, and whether that
// lacked an instance with a process; it starts a read when the snapshot
// is due for one. It never waits for a read.
func (u *usageCache) scraped(shown *usageSnapshot, missing bool) {
	if shown != nil {
		age := u.clock.Now().Sub(shown.at)
		if age < u.soonest || (age < u.every && !missing) {
			return
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.reading || u.closed || u.cur.Load() != shown { // a read is under way, or has just ended
		return
	}
	u.reading = true
	u.wg.Add(1)
	go u.refresh()
}

// refresh reads every instance's usage and keeps it.
func (u *usageCache) refresh() {
	defer u.wg.Done()
	at := u.clock.Now()
	if samples := u.read(u.stop); samples != nil {
		u.cur.Store(&usageSnapshot{at: at, samples: samples})
	}
	u.mu.Lock()
	u.reading = false
	u.mu.Unlock()
}

// close stops a read in progress, waits for it, and lets no other start.
func (u *usageCache) close() {
	u.mu.Lock()
	if !u.closed {
		u.closed = true
		close(u.stop)
	}
	u.mu.Unlock()
	u.wg.Wait()
}

// fileUsage reads usage through package usage: each instance's cgroup, or
// one scan of /proc for those that have none, whichever the daemon runs
// with (the cgroup directories it told State at its start).
func fileUsage(s *State, log logr.Logger) usageReader {
	return func(stop <-chan struct{}) map[usageKey]usageSample {
		var dirs cgroup.Dirs // none: /proc alone
		if v := s.view.Load(); v != nil {
			dirs = v.Cgroups
		}
		reader := usage.NewReader(dirs)
		samples := map[usageKey]usageSample{}
		for name, p := range s.programs.snapshot() {
			select {
			case <-stop:
				return nil
			default:
			}
			st := p.status.Load()
			if st == nil {
				continue
			}
			for i := range st.Status.Instances {
				in := &st.Status.Instances[i]
				if in.Pid == 0 {
					continue
				}
				u, err := reader.Read(name, in.Name, in.Pid)
				if err != nil {
					log.V(1).Info("No usage figures for an instance", "program", name, "instance", in.Name, "reason", err.Error())
					continue
				}
				samples[usageKey{name, in.Index, in.Pid}] = usageSample{u.CPUSeconds, float64(u.MemoryBytes)}
			}
		}
		return samples
	}
}
