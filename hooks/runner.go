package hooks

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

const (
	// MaxRunning is how many hooks of one program run at once.
	MaxRunning = 4
	// DroppedWindow is the shortest time between two HooksDropped events of
	// one program: drops are counted and reported when it has passed since
	// the first unreported one.
	DroppedWindow = 10 * time.Second
)

// Starter starts a hook's process as the leader of a new process group;
// *proc.Starter is one. It must be the daemon's Starter: its reaper reaps
// every other child, so a hook started through os/exec would lose its exit
// status to it.
type Starter interface {
	Start(spec proc.Spec) (*proc.Process, error)
}

// InstanceContext is who an event's hooks run as: the identity, directory
// and environment of the instance the event is about (for an event about the
// whole program, those an instance of it gets).
type InstanceContext struct {
	// Env is the instance's environment, "K=V" entries, as it was started.
	// $(VAR) in hooks expands from it (and the RECONCILED_EVENT_* variables).
	Env []string
	// Dir is the instance's working directory; empty means the daemon's.
	Dir string
	// Credential is the instance's user; nil means the daemon's.
	Credential *proc.Credential
}

// Options configures a Runner. The zero values of the optional fields are
// sensible defaults.
type Options struct {
	// Program names the program in the events the Runner emits.
	Program string
	// Hooks are the program's hooks, validated (see Validate); SetHooks
	// replaces them.
	Hooks []Hook
	// Starter starts exec hooks; required when a hook has exec.
	Starter Starter
	// Emit receives HookFailed and HooksDropped events. The Runner calls it
	// from its own goroutines (one call at a time), never from Fire; it
	// should not block for long.
	Emit func(status.Event)
	// Clock arms the timeouts and the HooksDropped window; nil is the wall
	// clock.
	Clock clock.Clock
	// HTTPClient sends httpPost hooks; nil is http.DefaultClient. Its own
	// Timeout, if any, applies on top of the hook's.
	HTTPClient *http.Client
	// Log gets debug records (V(1)) of hook runs.
	Log logr.Logger
	// OnRun, when set, hears of every run that ended (success or not), from
	// the run's goroutine; it must return at once (metrics).
	OnRun func(success bool)
}

// Runner runs the hooks of one program. Fire hands it an event and returns at
// once; at most MaxRunning hooks run at a time, each bounded by its timeout.
// Its methods are safe for concurrent use.
type Runner struct {
	program string
	starter Starter
	clock   clock.Clock
	client  *http.Client
	log     logr.Logger

	ctx    context.Context // the parent of every run's context
	cancel context.CancelFunc

	emitMu sync.Mutex // one Emit call at a time
	emit   func(status.Event)
	onRun  func(success bool)

	mu       sync.Mutex
	hooks    []Hook           // never changed in place: SetHooks makes a new slice
	byReason map[string][]int // reason -> indices in hooks
	running  int              // workers, each running one hook at a time
	queue    []jobKey         // waiting keys, oldest first
	waiting  map[jobKey]job   // the newest event of each waiting key
	dropped  int              // not yet reported
	dropT    clock.Timer      // the pending HooksDropped report, or nil
	closed   bool
	peak     int // the most workers ever at once, for tests
	workers  sync.WaitGroup
}

// jobKey is what coalesces: one hook, one reason, one instance. hook points
// into the hooks slice of the configuration the event was fired under.
type jobKey struct {
	hook     *Hook
	reason   string
	instance string
}

// job is one run of one hook for one event.
type job struct {
	hook  *Hook
	index int // in spec.hooks, for messages
	ev    status.Event
	inst  InstanceContext
}

// New returns a Runner for one program. Its hooks run under ctx: cancelling
// ctx kills the hooks that run and drops those that wait. Close must be
// called in every case, to wait for the Runner's goroutines.
func New(ctx context.Context, opts Options) *Runner {
	r := &Runner{
		program: opts.Program,
		starter: opts.Starter,
		clock:   opts.Clock,
		client:  opts.HTTPClient,
		log:     opts.Log,
		emit:    opts.Emit,
		onRun:   opts.OnRun,
		waiting: map[jobKey]job{},
	}
	if r.clock == nil {
		r.clock = clock.Real{}
	}
	if r.client == nil {
		r.client = http.DefaultClient
	}
	if r.emit == nil {
		r.emit = func(status.Event) {}
	}
	r.ctx, r.cancel = context.WithCancel(ctx)
	r.setHooksLocked(opts.Hooks)
	return r
}

// SetHooks replaces the program's hooks, for the events fired from now on:
// hooks that run or wait keep the configuration they were fired under.
// Hooks are not in the spec hash, so an edit of them reaches the Runner
// without a restart of any instance.
func (r *Runner) SetHooks(hooks []Hook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setHooksLocked(hooks)
}

func (r *Runner) setHooksLocked(hooks []Hook) {
	r.hooks = append([]Hook(nil), hooks...)
	r.byReason = map[string][]int{}
	for i, h := range r.hooks {
		if (h.Exec == nil) == (h.HTTPPost == nil) {
			continue // invalid: Validate reports it
		}
		seen := map[string]bool{}
		for _, reason := range h.Events {
			if !seen[reason] {
				seen[reason] = true
				r.byReason[reason] = append(r.byReason[reason], i)
			}
		}
	}
}

// Fire runs the hooks that listen to ev.Reason, for the instance inst
// describes. It never blocks: a hook starts on a goroutine of its own when
// fewer than MaxRunning run; otherwise it waits, and a later event for the
// same hook, reason and instance takes its place (the older one is counted as
// dropped). Fire does nothing after Close or once the Runner's context ended.
func (r *Runner) Fire(ev status.Event, inst InstanceContext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.ctx.Err() != nil {
		return
	}
	for _, i := range r.byReason[ev.Reason] {
		j := job{hook: &r.hooks[i], index: i, ev: ev, inst: inst}
		if r.running < MaxRunning {
			// Nothing waits while a slot is free: a worker that finishes
			// takes the next waiting job before it gives up its slot.
			r.running++
			r.peak = max(r.peak, r.running)
			r.workers.Add(1)
			go r.work(j)
			continue
		}
		k := jobKey{hook: j.hook, reason: ev.Reason, instance: ev.Instance}
		if _, ok := r.waiting[k]; ok {
			r.dropLocked(1)
		} else {
			r.queue = append(r.queue, k)
		}
		r.waiting[k] = j
	}
}

// work runs j, then the waiting jobs, oldest first, until none is left.
func (r *Runner) work(j job) {
	defer r.workers.Done()
	for {
		r.run(j)
		r.mu.Lock()
		if r.ctx.Err() != nil && len(r.queue) > 0 {
			r.dropLocked(len(r.queue)) // killed at Close or by the parent context
			r.queue, r.waiting = nil, map[jobKey]job{}
		}
		if len(r.queue) == 0 {
			r.running--
			r.mu.Unlock()
			return
		}
		k := r.queue[0]
		r.queue[0] = jobKey{}
		r.queue = r.queue[1:]
		j = r.waiting[k]
		delete(r.waiting, k)
		r.mu.Unlock()
	}
}

// dropLocked counts n dropped runs and makes sure a report is due.
func (r *Runner) dropLocked(n int) {
	r.dropped += n
	if r.dropT == nil && !r.closed {
		r.dropT = r.clock.AfterFunc(DroppedWindow, r.reportDropped)
	}
}

// reportDropped emits the HooksDropped event of a window.
func (r *Runner) reportDropped() {
	r.mu.Lock()
	n := r.dropped
	r.dropped, r.dropT = 0, nil
	r.mu.Unlock()
	r.emitDropped(n)
}

func (r *Runner) emitDropped(n int) {
	if n == 0 {
		return
	}
	r.send(status.Event{
		Type:   status.EventWarning,
		Reason: ReasonHooksDropped,
		Message: strconv.Itoa(n) + " hook runs dropped: " + strconv.Itoa(MaxRunning) +
			" hooks were running, and a newer event of the same reason and instance took the waiting run's place",
	})
}

// send stamps ev with the program and the time and emits it.
func (r *Runner) send(ev status.Event) {
	ev.Program = r.program
	ev.Time = r.clock.Now()
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.emit(ev)
}

// Close stops the Runner: Fire does nothing from now on. Hooks that run or
// wait may finish until ctx ends; then those that run are killed (a
// HookFailed each) and those that wait are dropped. Close returns once every
// goroutine of the Runner has ended, after a last HooksDropped event when
// runs were dropped since the last one; its error is ctx's when it had to
// kill or drop. Call it before the event sink closes; a second call returns
// at once.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	if r.dropT != nil {
		r.dropT.Stop()
		r.dropT = nil
	}
	r.mu.Unlock()

	done := make(chan struct{})
	go func() {
		r.workers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("close hooks of %s: %w", r.program, ctx.Err())
		r.cancel()
		<-done // each run ends soon after its context: see runExec
	}
	r.cancel()

	r.mu.Lock()
	n := r.dropped
	r.dropped = 0
	r.mu.Unlock()
	r.emitDropped(n)
	return err
}
