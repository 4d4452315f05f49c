package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/cgroup"
	"github.com/reconciled/reconciled/health"
	"github.com/reconciled/reconciled/hooks"
	"github.com/reconciled/reconciled/internal/memsettle"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/reconciler/output"
	"github.com/reconciled/reconciled/reconciler/watch"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// StateDirName is the daemon's own directory inside the status directory:
// lock, pid and logs/.
const StateDirName = ".reconciled"

// DaemonOptions configure RunDaemon.
type DaemonOptions struct {
	// Dir holds the manifests; StatusDir the status and event files and
	// .reconciled/ (default: Dir).
	Dir, StatusDir string
	// Resync is the period of the safety rescan (default 30s).
	Resync time.Duration
	// Reload asks for a rescan (SIGHUP).
	Reload <-chan struct{}
	// Stdout and Stderr are the daemon's own, for output "inherit".
	Stdout, Stderr *os.File
	Log            logr.Logger

	// Attach also copies every instance's output to Stdout, each line
	// prefixed "NAME-i | " (reconciled run --attach); Timestamps puts the
	// time before each; Color paints each program's prefix in a colour of
	// its own (the caller decides: Stdout is a terminal and NO_COLOR is
	// unset, see output.ShouldColor).
	Attach, Timestamps, Color bool
	// ExitOn is when the daemon ends by itself (default ExitNever). When an
	// instance's end stops it, RunDaemon returns an *ExitCodeError.
	ExitOn ExitPolicy
	// Only and Exclude restrict the programs run to a subset of the
	// directory's (--only, --exclude).
	Only, Exclude []string
	// DrainTimeout bounds how long the daemon waits, after every instance
	// has stopped, for their output to be written (default 5s).
	DrainTimeout time.Duration
	// CgroupRoot is --cgroup-root: the cgroup v2 path under which every
	// instance gets a cgroup of its own; "" for the default (a child
	// reconciled-<hash of the status dir> of the daemon's own cgroup),
	// "none" for no cgroups (process groups only).
	CgroupRoot string
	// TrustAllOwners turns the owner rule of the privilege policy off
	// (--trust-all-owners): a manifest may name any user whoever owns it.
	// The mode rule stays. The policy applies only to a daemon running as
	// root (docs/reference.md §1, manifest.Policy).
	TrustAllOwners bool
	// Observers let the caller watch the daemon run (metrics, health
	// endpoints, systemd notify); every one is optional.
	Observers Observers
}

// Observers are how the daemon tells an observer (package monitor, sdnotify)
// what it does. Each is called on one of the daemon's goroutines and must
// return at once: a hook that blocks stalls what called it.
type Observers struct {
	// Sink also gets every status and event, after the status writer. It
	// may be a ProbeCounter too.
	Sink StatusSink
	// Started is called once, before the first pass.
	Started func(DaemonView)
	// Pass is called on the loop's goroutine after each pass.
	Pass func(PassReport)
	// Stopping is called once when the daemon begins to stop everything
	// (the context is done, or an exit policy ended the run).
	Stopping func()
	// HookRan is called when a hook of program ended, from the hook's
	// goroutine.
	HookRan func(program string, success bool)
}

// DaemonView is what an observer may ask the running daemon.
type DaemonView struct {
	// Alive returns nil when the loop answers before ctx ends.
	Alive func(ctx context.Context) error
	// Cgroups are where the instances' cgroups are (usage.NewReader); the
	// zero value when the daemon runs without cgroups.
	Cgroups cgroup.Dirs
}

// withoutNotifyEnv returns env without the variables systemd gives the
// daemon for itself: passed on, they would let a child speak for the daemon.
func withoutNotifyEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "NOTIFY_SOCKET" || name == "WATCHDOG_USEC" || name == "WATCHDOG_PID"
	})
}

// RunDaemon is `reconciled run`: it takes the directory's lock, ends what an
// earlier daemon left running, and reconciles until ctx is done; then it
// stops every instance and writes the final statuses.
func RunDaemon(ctx context.Context, o DaemonOptions) error {
	if o.StatusDir == "" {
		o.StatusDir = o.Dir
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	policy, err := ParseExitPolicy(string(o.ExitOn))
	if err != nil {
		return fmt.Errorf("exit policy: %w", err)
	}
	filter, err := programFilter(o.Only, o.Exclude)
	if err != nil {
		return err
	}
	log := o.Log
	stateDir := filepath.Join(o.StatusDir, StateDirName)
	logDir := filepath.Join(stateDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", logDir, err)
	}
	// Without --only/--exclude the daemon owns every program: it holds the
	// directory alone. With them it shares it, and owns a program once it
	// holds its lock (claims.go).
	reg, err := register(stateDir, filter == nil)
	if err != nil {
		return err
	}
	defer reg.close()
	owned, err := newClaims(stateDir)
	if err != nil {
		return err
	}
	defer owned.releaseAll()
	if err := proc.BecomeSubreaper(); err != nil {
		log.Error(err, "Cannot become a child subreaper: orphans of instances go to init")
	}
	raiseNofile(log)
	// After a burst of work (every one ends in a status flush) the writer's
	// caches and the memory the burst freed go back to the kernel once the
	// daemon is quiet.
	var writer *status.Writer
	settler := memsettle.New(0, nil, func() bool { return writer.Trim() })
	defer settler.Stop()
	writer = status.NewWriter(status.WriterOptions{Dir: o.StatusDir, Log: log.WithName("status"), AfterFlush: settler.Touch})
	clog := log.WithName("cleanup")
	claimer := &daemonClaims{c: owned, filter: filter, statusDir: o.StatusDir, sink: writer, log: log.WithName("claims")}
	statuses, err := status.ReadDir(o.StatusDir)
	if err != nil {
		clog.Error(err, "Read status files failed", "path", o.StatusDir)
	}
	// Claimed before anything of them is touched; what another daemon
	// owns is left alone from here on.
	claimer.claimAtStart(o.Dir, statuses)
	cleanupStale(statuses, claimer.mine, clog)
	id, err := daemonID(stateDir)
	if err != nil {
		return err
	}
	// Also after a run with cgroups off, whose leftovers no cgroup holds.
	killMarkedLeftovers(id, claimer.mine, filter == nil, clog)
	cgroups, closeCgroups := openCgroups(ctx, o.CgroupRoot, o.StatusDir, claimer.mine, reg.alone, log.WithName("cgroup"))
	defer closeCgroups()
	if cgroups != nil || filter == nil {
		// A daemon without cgroups removes a record only when alone: a
		// daemon beside it may have cgroups.
		recordCgroups(stateDir, cgroups, log.WithName("cgroup"))
	}
	containment := ContainProcessGroup
	if cgroups != nil {
		containment = ContainCgroup
	}
	forgetDeleted(o.Dir, statuses, claimer.mine, writer, clog)
	claimer.releaseUnlisted(o.Dir)
	if filter != nil {
		// Another daemon may have run a program this one claims later.
		claimer.cleanup = func(mine func(string) bool) {
			statuses, _ := status.ReadDir(o.StatusDir)
			cleanupStale(statuses, mine, clog)
			killMarkedLeftovers(id, mine, false, clog)
			removeCgroupLeftovers(ctx, cgroups, mine, clog)
		}
	}

	w, err := watch.New(watch.Options{Dir: o.Dir, Resync: o.Resync, Ignore: ownFile, Log: log.WithName("watch")})
	if err != nil {
		return err
	}
	procs := proc.NewStarter(log.WithName("proc"))
	// Closed once its Run has returned (wg.Wait, deferred after this).
	defer func() {
		if err := procs.Close(); err != nil {
			log.Error(err, "Cannot end the fork server")
		}
	}()
	specDir, _ := filepath.Abs(o.Dir)
	// The run ends with ctx, or earlier by the exit policy, whose cause
	// then says how RunDaemon returns.
	runCtx, endRun := context.WithCancelCause(ctx)
	defer endRun(nil)
	var sink StatusSink = writer
	admit := admitRuntime
	if policy != ExitNever {
		// Not those another daemon owns: this one waits for its own.
		programs := func() ([]string, error) {
			return listPrograms(o.Dir, func(name string) bool { return (filter == nil || filter(name)) && !claimer.isRefused(name) })
		}
		sink = newExitWatcher(writer, policy, programs, endRun, log.WithName("exit"))
		admit = exitPolicyAdmit(admit)
	}
	var trust *manifest.Policy
	if uid := os.Geteuid(); uid == 0 {
		trust = &manifest.Policy{DaemonUID: uint32(uid), TrustAllOwners: o.TrustAllOwners}
		if o.TrustAllOwners {
			log.Info("Trusting every manifest's owner: a manifest may name any user (--trust-all-owners)")
		}
	}
	// Each program closes its hook runner when it ends; what is left is
	// killed when the daemon returns.
	hookCtx, endHooks := context.WithCancel(context.WithoutCancel(ctx))
	defer endHooks()
	if o.Observers.Sink != nil {
		sink = teeSink{first: sink, then: o.Observers.Sink}
	}
	outLog := log.WithName("output")
	outs := output.NewGroup(output.Options{Report: func(rep output.Report) { reportOutput(sink, outLog, rep) }})
	sockets := health.NewSockets()
	defer sockets.Close() // a socket a probe releases later is closed at once
	starter := &OSStarter{Procs: procs, SpecDir: specDir, LogDir: logDir, BaseEnv: withDaemonID(withoutNotifyEnv(os.Environ()), id), Stdout: o.Stdout, Stderr: o.Stderr, Output: outs, Sockets: sockets, Cgroups: cgroups}
	if cgroups == nil {
		starter.Sweeper = &sweeper{procs: procs, marks: []string{proc.EnvDaemonID + "=" + id}, log: log.WithName("sweep")}
	}
	if o.Attach && o.Stdout != nil {
		starter.Terminal = output.NewTerminal(o.Stdout, output.TerminalOptions{Color: o.Color, Timestamps: o.Timestamps})
	}
	r := New(Options{
		Dir:     o.Dir,
		Trigger: w.C(),
		Sink:    sink,
		Admit:   admit,
		Filter:  filter,
		// Status files are written at most every 100ms anyway.
		PublishEvery: 50 * time.Millisecond,
		Log:          log.WithName("reconciler"),
		Starter:      starter,
		Containment:  containment,
		PassSignal:   policy != ExitNever,
		Hooks: func(program string, emit func(status.Event)) ProgramHooks {
			var onRun func(bool)
			if ran := o.Observers.HookRan; ran != nil {
				onRun = func(ok bool) { ran(program, ok) }
			}
			return hooks.New(hookCtx, hooks.Options{Program: program, Starter: procs, Emit: emit, OnRun: onRun,
				Log: log.WithName("hooks").WithValues("program", program)})
		},
		Trust:       trust,
		LastGoodDir: filepath.Join(stateDir, LastGoodDirName),
		OnPass:      o.Observers.Pass,
		Claims:      claimer,
	})

	// Helpers live until the reconciler has stopped every instance.
	helpers, stopHelpers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopHelpers()
	goRun := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	goRun(func() { procs.Run(helpers) })
	goRun(func() { writer.Run(helpers) })
	// The control socket (reconciled signal) closes when ctx is done.
	if ctl, err := ListenControl(stateDir); err != nil {
		log.Error(err, "Control socket unavailable: reconciled signal will not work")
	} else {
		goRun(func() { ctl.Serve(runCtx, r, log.WithName("control")) })
	}
	goRun(func() {
		if err := w.Run(runCtx); err != nil {
			log.Error(err, "Watch failed: relying on the periodic resync")
		}
	})
	goRun(func() {
		for {
			select {
			case <-o.Reload:
				log.Info("Reload requested: rescanning")
				w.Trigger()
			case <-helpers.Done():
				return
			}
		}
	})
	if o.Observers.Stopping != nil {
		goRun(func() {
			select {
			case <-runCtx.Done():
				o.Observers.Stopping()
			case <-helpers.Done():
			}
		})
	}
	if o.Observers.Started != nil {
		run := DaemonView{Alive: r.Alive}
		if cgroups != nil {
			run.Cgroups = cgroups.Root.Dirs()
		}
		o.Observers.Started(run)
	}
	log.Info("Reconciling", "path", o.Dir, "statusDir", o.StatusDir)
	err = r.Run(runCtx)
	log.Info("Shutting down")
	// Every instance has stopped: let the pumps write what they still hold.
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), o.DrainTimeout)
	outs.Wait(drainCtx)
	cancelDrain()
	if err != nil {
		return err
	}
	var exit *ExitCodeError
	var sig *ShutdownSignal
	switch cause := context.Cause(runCtx); {
	case errors.As(cause, &exit):
		return exit
	case policy != ExitNever && errors.As(cause, &sig):
		return &ExitCodeError{Code: 128 + int(sig.Signal), Instance: "the daemon", How: "got " + proc.SignalName(sig.Signal), Policy: policy}
	}
	return nil
}

// reportOutput turns a pump's report into a daemon log line and, for a log
// file, an event of the instance's program.
func reportOutput(sink StatusSink, log logr.Logger, rep output.Report) {
	kv := []any{"program", rep.Program, "instance", rep.Instance, "stream", rep.Stream, "path", rep.Target}
	ev := status.Event{Time: time.Now(), Program: rep.Program, Instance: rep.Instance}
	switch {
	case rep.Err == nil:
		log.Info("Writing output again", kv...)
		ev.Type, ev.Reason = status.EventNormal, "LogWriteResumed"
		ev.Message = fmt.Sprintf("writing %s to %s again", rep.Stream, rep.Target)
	case rep.Target == "terminal":
		log.Error(rep.Err, "Cannot write to the terminal: no longer copying this output there", append(kv, "dropped", rep.Dropped)...)
		return
	case rep.Dropped > 0:
		log.Error(rep.Err, "Output given up", append(kv, "dropped", rep.Dropped)...)
		ev.Type, ev.Reason = status.EventWarning, "LogDropped"
		ev.Message = fmt.Sprintf("gave up %d bytes of %s: %v", rep.Dropped, rep.Stream, rep.Err)
	default:
		log.Error(rep.Err, "Cannot write output: holding it back and retrying; the instance blocks once its pipe is full", kv...)
		ev.Type, ev.Reason = status.EventWarning, "LogWriteFailed"
		ev.Message = fmt.Sprintf("cannot write %s: %v: holding the output back and retrying (the instance blocks once its pipe is full)", rep.Stream, rep.Err)
	}
	sink.Event(ev)
}

// teeSink hands everything to first, then to then.
type teeSink struct{ first, then StatusSink }

func (t teeSink) Update(st status.ProgramStatus) { t.first.Update(st); t.then.Update(st) }
func (t teeSink) Event(ev status.Event)          { t.first.Event(ev); t.then.Event(ev) }
func (t teeSink) Delete(name string)             { t.first.Delete(name); t.then.Delete(name) }

// ProbeCounter is then's, when it counts probes.
func (t teeSink) ProbeCounter(program string, index int, liveness bool) func(ok bool) {
	if c, ok := t.then.(ProbeCounter); ok {
		return c.ProbeCounter(program, index, liveness)
	}
	return func(bool) {}
}

// ownFile tells the watcher which names are the daemon's own writes.
func ownFile(name string) bool {
	return name == StateDirName || spec.DaemonFile(name)
}

// admitRuntime refuses what this daemon cannot do whatever the file says.
func admitRuntime(p *spec.Program) (*spec.Program, error) {
	if p.Spec.User != "" && os.Geteuid() != 0 {
		return nil, fmt.Errorf("spec.user: %q needs the daemon to run as root", p.Spec.User)
	}
	return p, nil
}

var _ Process = (*proc.Process)(nil)
