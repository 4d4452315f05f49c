package reconciler

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

// Options configure a Reconciler. The zero value of each optional field is a
// sensible default.
type Options struct {
	// Dir is the directory of manifests.
	Dir string
	// Trigger delivers "rescan now" (the watcher's channel); required.
	Trigger <-chan struct{}
	// Starter starts processes; required.
	Starter ProcessStarter
	// Probes builds readiness and liveness probes; by default the Starter,
	// if it is a ProbeBuilder.
	Probes ProbeBuilder
	// Sink receives status and events; required.
	Sink StatusSink
	// Admit takes a valid spec into the daemon: it returns the spec to run
	// (the same, or an adjusted copy; never p changed), or an error when
	// the daemon cannot run it (a user needs root).
	Admit func(p *spec.Program) (*spec.Program, error)
	// Filter, when set, keeps only the programs whose names it accepts
	// (reconciled run --only/--exclude); other manifests are ignored.
	Filter func(name string) bool
	// MaxParallelStarts bounds Start calls in flight; default
	// defaultParallelStarts().
	MaxParallelStarts int
	// PublishEvery is the least time between two status builds of a
	// program; 0 builds after every change.
	PublishEvery time.Duration
	// Containment is what the status files say holds instances together
	// (empty: not said).
	Containment Containment
	// Trust is the privilege policy of a daemon running as root
	// (docs/reference.md §1); nil applies none.
	Trust *manifest.Policy
	// LastGoodDir keeps each program's last valid spec (.reconciled/lastgood,
	// see lastGood); "" keeps none.
	LastGoodDir string
	Clock       clock.Clock
	Log         logr.Logger
	// Hooks makes each program's hook runner; nil: spec.hooks are not run
	// (their contexts come from the Starter, if it is a HookContexter).
	Hooks HookRunners
	// PassSignal: when Run's context ends with a *ShutdownSignal cause,
	// that signal goes to every instance in place of its stop signal
	// (under an exit policy, as vagga does).
	PassSignal bool
	// OnPass, when set, hears of every pass that read the directory, on
	// the loop's goroutine: it must return at once (metrics, readiness).
	OnPass func(PassReport)
	// Claims, when set, decides which programs are this daemon's when
	// several daemons share the directory (see claims.go): a program is
	// claimed before anything of it is started or adopted, and released
	// once it is deleted and stopped.
	Claims Claimer
}

// Claimer hands the programs of a directory to one of several daemons.
// The loop calls it from its goroutine only.
type Claimer interface {
	// Claim takes the programs named, each unless another daemon owns
	// it, and returns those it refused. Claiming an owned name succeeds.
	Claim(names []string) (refused map[string]bool)
	// Release gives up a program that is gone.
	Release(name string)
}

// PassReport tells what one pass of the loop did.
type PassReport struct {
	// Start is when the pass began (the Clock's time); Took how long it ran.
	Start time.Time
	Took  time.Duration
	// Programs are the programs of the directory the pass handed a desired
	// state (after Filter), valid or not.
	Programs []string
}

// Reconciler is the loop: on every trigger it reads the directory, and hands
// each program its desired state; the programs make it so.
type Reconciler struct {
	opts     Options
	scanner  scanner
	programs map[string]*program
	// sent is what each program was last told, so that a pass with nothing
	// new tells nobody anything.
	sent        map[string]desired
	lastValid   map[string]scanned
	lastGood    *lastGood
	reportedBad map[string]bool
	requests    chan controlRequest
	// gone holds the deleted programs whose goroutine ended, for the loop
	// to forget and release (Options.Claims).
	gone goneBox
	// heartbeat is received by the loop whenever it waits for work: a
	// send that goes through proves it is not stuck (Alive).
	heartbeat chan struct{}
	deps      *depGraph
	// running counts program goroutines, deleted ones still finishing
	// included: shutdown waits for all of them.
	running sync.WaitGroup
}

// controlRequest is an action of the control socket for one program: msg
// (a signalReq or restartReq) goes to the program's goroutine, which
// answers on reply.
type controlRequest struct {
	program string
	msg     any
	reply   chan error
}

// defaultParallelStarts is 64 starts in flight per thread that forks (one per
// CPU the runtime uses, at most 4: see proc.Starter). A start prepares its
// pipes, then queues for the fork server; the queue must not run dry while the
// goroutines preparing the next starts wait for a CPU that the children's
// execs also want: with a few per CPU the fork server's threads sat idle for
// a good part of a large start (see docs/internals.md, "Parallel starts").
// An in-flight start holds two pipes until its fork is done, so the bound
// also caps the descriptors a scale-up holds at once.
func defaultParallelStarts() int {
	return 64 * min(runtime.GOMAXPROCS(0), 4)
}

// New returns a Reconciler; Run starts it.
func New(opts Options) *Reconciler {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.MaxParallelStarts <= 0 {
		opts.MaxParallelStarts = defaultParallelStarts()
	}
	return &Reconciler{
		opts:        opts,
		scanner:     scanner{dir: opts.Dir, admit: opts.Admit, trust: opts.Trust, cache: map[string]cacheEntry{}},
		lastGood:    newLastGood(opts.LastGoodDir, opts.Log),
		programs:    map[string]*program{},
		sent:        map[string]desired{},
		lastValid:   map[string]scanned{},
		reportedBad: map[string]bool{},
		requests:    make(chan controlRequest),
		heartbeat:   make(chan struct{}),
		deps:        newDepGraph(),
		gone:        goneBox{wake: make(chan struct{}, 1)},
	}
}

// Run reconciles until ctx is done, then stops every instance of every
// program in parallel (each honouring its stopTimeout) and returns once all
// have stopped and their final status was handed to the sink.
func (r *Reconciler) Run(ctx context.Context) error {
	slots := make(chan struct{}, r.opts.MaxParallelStarts)
	probes := r.opts.Probes
	if b, ok := r.opts.Starter.(ProbeBuilder); ok && probes == nil {
		probes = b
	}
	popts := programOptions{log: r.opts.Log, clock: r.opts.Clock, starter: r.opts.Starter, probes: probes,
		sink: r.opts.Sink, deps: r.deps, spawnSlots: slots, publishEvery: r.opts.PublishEvery,
		containment: r.opts.Containment, newHooks: r.opts.Hooks}
	if r.opts.Claims != nil {
		popts.onGone = r.gone.add
	}
	if hc, ok := r.opts.Starter.(HookContexter); ok {
		popts.hookCtx = hc
	}
	r.pass(ctx, popts)
	for {
		select {
		case <-ctx.Done():
			var sig syscall.Signal
			if s := (*ShutdownSignal)(nil); r.opts.PassSignal && errors.As(context.Cause(ctx), &s) {
				sig = s.Signal
			}
			r.shutdown(sig)
			return nil
		case <-r.opts.Trigger:
			r.pass(ctx, popts)
		case req := <-r.requests:
			r.forward(req)
		case <-r.gone.wake:
			r.forget()
		case <-r.heartbeat:
		}
	}
}

// Alive returns nil once the loop has come back to wait for work: it is
// running and no pass is stuck. It returns an error when ctx ends first
// (the loop is busy, wedged, or not running).
func (r *Reconciler) Alive(ctx context.Context) error {
	select {
	case r.heartbeat <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the loop did not answer: %w", ctx.Err())
	}
}

// Signal sends sig to instance index of program (every instance when index
// is negative) through the daemon's own process handles.
func (r *Reconciler) Signal(ctx context.Context, program string, index int, sig syscall.Signal) error {
	reply := make(chan error, 1)
	return r.control(ctx, controlRequest{program: program, msg: signalReq{index: index, sig: sig, reply: reply}, reply: reply})
}

// control hands req to the loop, which forwards it to its program, and
// waits for the program's answer.
func (r *Reconciler) control(ctx context.Context, req controlRequest) error {
	select {
	case r.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Reconciler) forward(req controlRequest) {
	p := r.programs[req.program]
	if p == nil {
		req.reply <- fmt.Errorf("%s: %w", req.program, ErrNoProgram)
		return
	}
	// The program answers on req.reply itself; the loop does not wait.
	if !p.post(req.msg) {
		req.reply <- fmt.Errorf("%s: %w", req.program, ErrNoProgram)
	}
}

// pass is one level-triggered reconciliation of the whole directory.
func (r *Reconciler) pass(ctx context.Context, popts programOptions) {
	start := r.opts.Clock.Now()
	found, bad, err := r.scanner.scan()
	if err != nil {
		r.opts.Log.Error(err, "Scan failed", "path", r.opts.Dir)
		return // keep everything as it is; the next trigger retries
	}
	for _, name := range bad {
		if !r.reportedBad[name] {
			r.reportedBad[name] = true
			r.opts.Log.Info("Ignoring file with an invalid program name", "path", name,
				"reason", fmt.Sprintf("a program name is lower-case letters, digits, '-' and '_', at most %d characters", spec.MaxNameLength))
		}
	}
	if !r.scanner.missing {
		r.lastGood.prune(found)
	}
	for name := range found {
		if r.opts.Filter != nil && !r.opts.Filter(name) {
			delete(found, name)
		}
	}
	r.claim(found)
	r.recallLastGood(found)
	cycles := r.cycles(found)
	var copies []string
	for name, res := range found {
		if c, ok := cycles[name]; ok {
			res = scanned{err: fmt.Errorf("spec.dependsOn: dependency cycle: %s", c)}
		}
		d := desired{prog: res.prog, hash: res.hash}
		if res.prog != nil {
			if r.keepValid(name, res) {
				copies = append(copies, name)
			}
		} else {
			last := r.lastValid[name]
			d = desired{prog: last.prog, hash: last.hash, invalid: res.err}
		}
		r.tell(ctx, name, d, popts)
	}
	for name := range r.programs {
		if _, ok := found[name]; !ok {
			last := r.lastValid[name]
			r.tell(ctx, name, desired{prog: last.prog, hash: last.hash, deleted: true}, popts)
			delete(r.lastValid, name)
			r.lastGood.remove(name)
		}
	}
	r.keepCopies(copies)
	took := r.opts.Clock.Now().Sub(start)
	r.opts.Log.V(1).Info("Rescanned", "path", r.opts.Dir, "programs", len(found), "took", took.String())
	if r.opts.OnPass != nil {
		names := make([]string, 0, len(found))
		for name := range found {
			names = append(names, name)
		}
		r.opts.OnPass(PassReport{Start: start, Took: took, Programs: names})
	}
}

// cycles finds the programs whose new spec would close a dependency cycle,
// with the cycle spelled out. A rejected program keeps running its last
// valid spec, so its dependencies are that spec's: the search is repeated
// with them until no new program is rejected. The applied specs then never
// form a cycle (shutdown order relies on it).
func (r *Reconciler) cycles(found map[string]scanned) map[string]string {
	rejected := map[string]string{}
	for {
		needs := map[string][]string{}
		for name, res := range found {
			prog := res.prog
			if _, bad := rejected[name]; bad || prog == nil {
				prog = r.lastValid[name].prog
			}
			if prog == nil {
				continue
			}
			for _, d := range prog.Spec.DependsOn {
				needs[name] = append(needs[name], d.Program)
			}
		}
		added := false
		for name, c := range spec.Cycles(needs) {
			if _, bad := rejected[name]; !bad && found[name].prog != nil {
				rejected[name] = c
				added = true
			}
		}
		if !added {
			return rejected
		}
	}
}

// tell hands d to the program name, creating the program when needed; it
// says nothing when the program was already told exactly this.
func (r *Reconciler) tell(ctx context.Context, name string, d desired, popts programOptions) {
	p := r.programs[name]
	if p != nil && same(r.sent[name], d) {
		return
	}
	if p == nil || !p.set(d) {
		if d.deleted {
			delete(r.programs, name)
			delete(r.sent, name)
			if r.opts.Claims != nil {
				r.opts.Claims.Release(name)
			}
			return
		}
		p = newProgram(ctx, name, popts)
		p.log = popts.log.WithValues("program", name)
		r.programs[name] = p
		p.set(d)
		r.running.Add(1)
		go func() {
			defer r.running.Done()
			p.run()
		}()
	}
	r.sent[name] = d
}

func same(a, b desired) bool {
	return a.prog == b.prog && a.hash == b.hash && a.deleted == b.deleted && a.shutdown == b.shutdown && a.shutdownSignal == b.shutdownSignal &&
		errText(a.invalid) == errText(b.invalid)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// shutdown stops every program; sig, if not 0, goes to every instance in
// place of its stop signal.
func (r *Reconciler) shutdown(sig syscall.Signal) {
	start := r.opts.Clock.Now()
	for name, p := range r.programs {
		d := r.sent[name]
		d.shutdown, d.shutdownSignal = true, sig
		p.set(d)
	}
	r.running.Wait()
	r.opts.Log.Info("Stopped every instance", "programs", len(r.programs), "took", r.opts.Clock.Now().Sub(start).Round(time.Millisecond).String())
}

// claim drops from found the programs another daemon owns; those this
// daemon runs already are its own.
func (r *Reconciler) claim(found map[string]scanned) {
	if r.opts.Claims == nil {
		return
	}
	var fresh []string
	for name := range found {
		if r.programs[name] == nil {
			fresh = append(fresh, name)
		}
	}
	if len(fresh) == 0 {
		return
	}
	for name := range r.opts.Claims.Claim(fresh) {
		delete(found, name)
	}
}

// forget drops the deleted programs whose goroutine ended and releases
// them, unless a program of the same name was made since (the manifest
// came back): that one keeps the claim.
func (r *Reconciler) forget() {
	for _, p := range r.gone.take() {
		if r.programs[p.name] != p {
			continue
		}
		delete(r.programs, p.name)
		delete(r.sent, p.name)
		r.opts.Claims.Release(p.name)
	}
}

// goneBox collects programs from their goroutines for the loop, without
// ever blocking them (the loop may be busy, or shutting down).
type goneBox struct {
	mu   sync.Mutex
	list []*program
	wake chan struct{} // one slot: something is in list
}

func (b *goneBox) add(p *program) {
	b.mu.Lock()
	b.list = append(b.list, p)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *goneBox) take() []*program {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.list
	b.list = nil
	return l
}
