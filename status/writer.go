package status

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/clock"
)

const (
	// DefaultInterval is the longest a change waits before it is written.
	DefaultInterval = 100 * time.Millisecond
	// maxInterval caps WriterOptions.Interval: docs/reference.md §4 promises a change is
	// on disk within 1s, and a flush itself takes some time.
	maxInterval = 500 * time.Millisecond
	// maxQueuedEvents bounds the events kept per program while they cannot be
	// written (no Run yet, or a failing disk). The oldest are dropped first,
	// as rotation would drop them anyway.
	maxQueuedEvents = 10000
	// flushCostFactor stretches the batch interval under load: a batch lasts
	// at least this many times as long as the last flush took, so that
	// writing a large status file takes at most 1/flushCostFactor of the
	// time during a storm. It never passes maxInterval.
	flushCostFactor = 20
	// staleBudget is docs/reference.md §4's promise: a change is on disk within 1s.
	staleBudget = time.Second
	// retryMin and retryMax bound the back-off of a flush that failed: it
	// is tried again on its own after retryMin, doubling up to retryMax,
	// so that no status file stays stale for long after a fault (a full or
	// read-only file system) clears, and a lasting fault costs one attempt
	// every retryMax.
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// WriterOptions configures a Writer. The zero value of each field is a sensible
// default, except Dir, which is the current directory when empty.
type WriterOptions struct {
	// Dir is the directory for status and events files (--status-dir).
	Dir string
	// Interval is how long a batch coalesces changes before they are
	// written; a batch after a slow flush lasts longer (20 times the flush,
	// at most 500ms, within the 1s staleness budget). Zero means
	// DefaultInterval; values above 500ms are lowered to 500ms so that
	// status files stay less than 1s stale.
	Interval time.Duration
	// EventsMaxBytes is the size past which an events file is rotated. Zero
	// means DefaultEventsMaxBytes.
	EventsMaxBytes int64
	// Log receives write failures. The zero Logger discards them.
	Log logr.Logger
	// Clock is the source of time and timers. Nil means the real clock.
	Clock clock.Clock
	// AfterFlush, if set, is called on Run's goroutine after each flush
	// (the daemon's memory settler counts it as work).
	AfterFlush func()
}

// Writer is the daemon's status and events writer. The reconciler hands it the
// latest status of each program and the events as they happen, without ever
// blocking on the disk; Run writes them in batches.
//
// Timeline of one batch:
//
//	Update/Event/Delete   record the change (latest status wins per program), wake Run
//	Run                   wakes, starts a timer of Interval (longer after a slow
//	                      flush: see batchInterval), keeps coalescing
//	timer fires           flush: append events, then write changed statuses and
//	                      remove deleted ones; back to sleep until the next change
//
// A status whose write fails is written again with the next flush, unless a
// newer one replaced it; events that fail are kept (bounded) for the next
// flush too. A flush that left something unwritten is followed by one of its
// own after a back-off (100ms doubling to 5s, see nextRetry), so a status
// file is fresh again soon after the fault clears even when nothing else
// changes, and a lasting fault costs one attempt every 5s, not a busy loop.
// A failure is logged when it starts (or its error changes), and its end once.
type Writer struct {
	dir      string
	interval time.Duration
	log      logr.Logger
	clock    clock.Clock
	events   EventLog

	// wake holds a token when there is a change Run has not seen yet.
	wake chan struct{}

	mu      sync.Mutex // guards the fields below, the inbox
	pending map[string]op
	queued  map[string][]Event
	dropped map[string]int

	flushMu sync.Mutex // serialises flushes and guards the fields below
	written map[string][]byte
	failed  map[string]op
	retry   bool // the last flush left something to write again

	// failing is what Run has logged as failing and not yet as written
	// again: failure key -> its cause. Only Run uses it.
	failing    map[string]string
	encoded    map[string]*encodeCache // per program: what its last status encoded to
	afterFlush func()
	onWrite    func(name string) // test hook: called after each status file write
}

// op is the pending change of one program's status file.
type op struct {
	st  ProgramStatus
	del bool
}

// NewWriter returns a Writer for opts. It does no I/O; call Run to start writing.
func NewWriter(opts WriterOptions) *Writer {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Interval > maxInterval {
		opts.Interval = maxInterval
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	return &Writer{
		dir:        opts.Dir,
		interval:   opts.Interval,
		log:        opts.Log,
		clock:      opts.Clock,
		events:     EventLog{Dir: opts.Dir, MaxBytes: opts.EventsMaxBytes, Log: opts.Log},
		wake:       make(chan struct{}, 1),
		pending:    map[string]op{},
		queued:     map[string][]Event{},
		dropped:    map[string]int{},
		written:    map[string][]byte{},
		failed:     map[string]op{},
		failing:    map[string]string{},
		encoded:    map[string]*encodeCache{},
		afterFlush: opts.AfterFlush,
	}
}

// Update records st as the latest status of program st.Metadata.Name, replacing
// any status not yet written. The Writer keeps st and only reads it: the
// caller must not change what its slices and pointers refer to afterwards
// (build a new one, or pass st.DeepCopy()); a status of 1000 instances is
// then not copied at every change. An empty APIVersion, Kind or UpdatedAt is
// filled in (UpdatedAt with the clock's now). It never blocks on I/O and is
// safe to call from many goroutines.
func (w *Writer) Update(st ProgramStatus) {
	if st.Status.UpdatedAt.IsZero() {
		st.Status.UpdatedAt = w.clock.Now()
	}
	w.mu.Lock()
	w.pending[st.Metadata.Name] = op{st: st}
	w.signal()
	w.mu.Unlock()
}

// Event queues ev for the events file of program ev.Program; events of one
// program are appended in the order they were queued. A zero ev.Time is set to
// the clock's now. It never blocks on I/O and is safe to call from many goroutines.
func (w *Writer) Event(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = w.clock.Now()
	}
	w.mu.Lock()
	w.enqueue(ev.Program, []Event{ev}, false)
	w.signal()
	w.mu.Unlock()
}

// Delete removes the status file of program name with the next flush, dropping
// any status of it not yet written. An Update after Delete creates it again.
func (w *Writer) Delete(name string) {
	w.mu.Lock()
	w.pending[name] = op{del: true}
	w.signal()
	w.mu.Unlock()
}

// enqueue adds evs to the queue of program name, at the front when they are
// being retried. w.mu must be held.
func (w *Writer) enqueue(name string, evs []Event, front bool) {
	q := w.queued[name]
	if front {
		q = append(slices.Clip(evs), q...)
	} else {
		q = append(q, evs...)
	}
	if over := len(q) - maxQueuedEvents; over > 0 {
		q = slices.Delete(q, 0, over)
		w.dropped[name] += over
	}
	w.queued[name] = q
}

// signal wakes Run. w.mu must be held, so that a token in w.wake means exactly
// that the inbox holds something a flush has not taken yet.
func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run writes changes until ctx is done, then flushes once more and returns.
// A change is written one batch after it was made (Interval, stretched
// after a slow flush: see batchInterval); a flush that failed is retried on
// its own after a back-off (nextRetry); when nothing changes and nothing
// failed, Run sleeps without timers. Failures are logged, never fatal. It
// first removes temp files that a crashed writer left behind, so only the
// process holding the directory lock may run it.
func (w *Writer) Run(ctx context.Context) {
	w.removeStaleTemps()
	var cost time.Duration // how long the last flush took
	var backoff time.Duration
	for {
		var retry chan struct{}
		var rt clock.Timer
		if backoff > 0 {
			ch := make(chan struct{})
			retry, rt = ch, w.clock.AfterFunc(backoff, func() { close(ch) })
		}
		select {
		case <-ctx.Done():
			if rt != nil {
				rt.Stop()
			}
			w.report(w.flush())
			return
		case <-retry:
		case <-w.wake:
			if rt != nil {
				rt.Stop()
			}
			due := make(chan struct{})
			t := w.clock.AfterFunc(w.batchInterval(cost), func() { close(due) })
			select {
			case <-ctx.Done():
				t.Stop()
				w.report(w.flush())
				return
			case <-due:
			}
		}
		start := w.clock.Now()
		w.report(w.flush())
		cost = w.clock.Now().Sub(start)
		if w.afterFlush != nil {
			w.afterFlush()
		}
		w.flushMu.Lock()
		again := w.retry
		w.flushMu.Unlock()
		backoff = nextRetry(backoff, again)
	}
}

// nextRetry is the back-off before the next flush of its own after one
// that took prev: none when everything was written, else retryMin doubling
// up to retryMax. A change meanwhile flushes sooner, and the back-off keeps
// growing while the fault lasts.
func nextRetry(prev time.Duration, failed bool) time.Duration {
	switch {
	case !failed:
		return 0
	case prev <= 0:
		return retryMin
	}
	return min(2*prev, retryMax)
}

// batchInterval is how long a batch coalesces changes after a flush that
// took cost: Interval, or flushCostFactor times cost when that is longer,
// at most maxInterval, and short enough that a change still reaches the
// disk within staleBudget (it may wait for a flush in progress, the batch,
// then its own flush).
func (w *Writer) batchInterval(cost time.Duration) time.Duration {
	return max(w.interval, min(flushCostFactor*cost, maxInterval, staleBudget-2*cost))
}

// removeStaleTemps removes the temp files of a writer that crashed. It holds
// flushMu so that it cannot take the temp file of a flush in progress.
func (w *Writer) removeStaleTemps() {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	if removed, err := removeStaleTemps(w.dir); err != nil {
		w.log.Error(err, "Remove stale temp files failed", "path", w.dir)
	} else if len(removed) > 0 {
		w.log.V(1).Info("Removed stale temp files", "path", w.dir, "count", len(removed))
	}
}

// Trim lets go of what only speeds up the next writes: the last content
// written of each program (compared with, to skip a rewrite) and its
// encoding cache (unchanged instances copied, not encoded again). The next
// flush of a program reads its file to compare, as after a start, and
// encodes it whole once. It reports whether there was anything to let go.
// The daemon trims once it has been quiet a while (internal/memsettle): at
// 5000 instances the two are a few megabytes that an idle daemon does not
// need.
func (w *Writer) Trim() bool {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	if len(w.written) == 0 && len(w.encoded) == 0 {
		return false
	}
	// New maps: a cleared map keeps its buckets.
	w.written, w.encoded = map[string][]byte{}, map[string]*encodeCache{}
	return true
}

// Flush writes every pending change now and returns the joined errors of the
// writes that failed (which are also kept for the next flush). It is meant for
// shutdown and tests; it is safe to call while Run runs.
func (w *Writer) Flush() error {
	var errs []error
	for _, f := range w.flush() {
		errs = append(errs, f.err)
	}
	return errors.Join(errs...)
}

// failure is one write that failed during a flush.
type failure struct {
	msg, program, path string
	err                error
}

// report logs the failures of a flush: each when it starts or its cause
// changes (ENOSPC, then EROFS), not at every retry of a lasting fault; and,
// once, that a write that was failing has succeeded.
func (w *Writer) report(fs []failure) {
	now := map[string]bool{}
	for _, f := range fs {
		key := f.msg + "\x00" + f.path
		now[key] = true
		if c := cause(f.err); w.failing[key] != c {
			w.failing[key] = c
			w.log.Error(f.err, f.msg, "program", f.program, "path", f.path)
		}
	}
	for key := range w.failing {
		if now[key] {
			continue
		}
		// Not failing any more: written since, or no longer to be written.
		_, path, _ := strings.Cut(key, "\x00")
		delete(w.failing, key)
		w.log.Info("Written again after failing", "path", path)
	}
}

// flush writes what is pending: events first, so that a reader woken by a status
// change finds the events that explain it, then statuses.
func (w *Writer) flush() []failure {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()

	// Take the inbox under flushMu, so that two flushes cannot write an older
	// snapshot after a newer one.
	w.mu.Lock()
	ops, queued, dropped := w.pending, w.queued, w.dropped
	w.pending, w.queued, w.dropped = map[string]op{}, map[string][]Event{}, map[string]int{}
	// What woke Run is taken now: without this, changes made while Run waited
	// would cost an empty batch after this one.
	select {
	case <-w.wake:
	default:
	}
	w.mu.Unlock()

	for name, o := range w.failed {
		if _, newer := ops[name]; !newer {
			ops[name] = o
		}
	}
	clear(w.failed)

	var fails []failure
	w.retry = false
	for _, name := range sortedKeys(dropped) {
		w.log.Info("Events dropped", "program", name, "count", dropped[name])
	}
	for _, name := range sortedKeys(queued) {
		evs := queued[name]
		n, err := w.events.Append(name, evs)
		if err == nil {
			continue
		}
		fails = append(fails, failure{"Append events failed", name, EventsPath(w.dir, name), err})
		if !errors.Is(err, ErrInvalidName) {
			w.mu.Lock()
			w.enqueue(name, evs[n:], true)
			w.mu.Unlock()
			w.retry = true
		}
	}
	for _, name := range sortedKeys(ops) {
		o := ops[name]
		path := StatusPath(w.dir, name)
		if o.del {
			delete(w.written, name)
			delete(w.encoded, name)
			if err := RemoveFile(w.dir, name); err != nil {
				fails = append(fails, failure{"Remove status failed", name, path, err})
				if !errors.Is(err, ErrInvalidName) {
					w.failed[name] = o
					w.retry = true
				}
			}
			continue
		}
		c := w.encoded[name]
		if c == nil {
			c = &encodeCache{}
			w.encoded[name] = c
		}
		old := c.data
		changed, cmp, err := writeStatus(w.dir, o.st, w.written[name], c)
		c.recycle(old)
		if err != nil {
			// Forget what is on disk: the failed write may have left anything.
			delete(w.written, name)
			fails = append(fails, failure{"Write status failed", name, path, err})
			if !errors.Is(err, ErrInvalidName) {
				w.failed[name] = o
				w.retry = true
			}
			continue
		}
		w.written[name] = cmp
		if changed && w.onWrite != nil {
			w.onWrite(name)
		}
	}
	return fails
}

// cause is the innermost error of err's chain (an errno, typically), as a
// string: what stays the same from one attempt to the next, where the
// message may not (it names a random temp file).
func cause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// DeepCopy returns a copy of st that shares no memory with it.
func (st ProgramStatus) DeepCopy() ProgramStatus {
	st.Status.Conditions = slices.Clone(st.Status.Conditions)
	if st.Status.Instances != nil {
		insts := make([]Instance, len(st.Status.Instances))
		for i, in := range st.Status.Instances {
			in.StartedAt = cloneTime(in.StartedAt)
			in.NextRetryAt = cloneTime(in.NextRetryAt)
			if in.LastExit != nil {
				e := *in.LastExit
				in.LastExit = &e
			}
			insts[i] = in
		}
		st.Status.Instances = insts
	}
	return st
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}
