package reconciler

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"

	"github.com/reconciled/reconciled/proc"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// ExitPolicy says when `reconciled run` ends by itself: vagga's supervision
// modes.
type ExitPolicy string

// The exit policies.
const (
	// ExitNever: the daemon runs until SIGTERM or SIGINT (the default).
	ExitNever ExitPolicy = "never"
	// ExitOnFailure (vagga's stop-on-failure): the first instance that ends,
	// whatever its exit code, stops everything, and the daemon exits with
	// that instance's exit code, or 128+signal.
	ExitOnFailure ExitPolicy = "failure"
	// ExitAllSucceeded (vagga's wait-all-successful): instances that exit 0
	// stay finished; the first that exits otherwise stops everything as
	// with ExitOnFailure; once every instance of every program has exited 0,
	// the daemon exits 0.
	ExitAllSucceeded ExitPolicy = "all-succeeded"
)

// ParseExitPolicy parses the value of --exit-on.
func ParseExitPolicy(s string) (ExitPolicy, error) {
	switch p := ExitPolicy(s); p {
	case ExitNever, ExitOnFailure, ExitAllSucceeded:
		return p, nil
	case "":
		return ExitNever, nil
	}
	return "", fmt.Errorf("%q is not one of never, failure, all-succeeded", s)
}

// ExitCodeError is what RunDaemon returns when an exit policy stopped the
// daemon because an instance ended: the daemon should exit with Code.
type ExitCodeError struct {
	// Code is the instance's exit code, 128+signal when a signal killed
	// it, 127 when it could not be started at all, 1 for an invalid manifest.
	Code int
	// Instance is NAME-i (NAME for an invalid manifest); How says what
	// happened to it ("exited with code 3", "killed by signal KILL").
	Instance, How string
	Policy        ExitPolicy
}

func (e *ExitCodeError) Error() string {
	return fmt.Sprintf("%s %s: stopped everything (--exit-on %s)", e.Instance, e.How, e.Policy)
}

// ShutdownSignal is the cause of a daemon's context ended by a signal it
// received. Under an exit policy (vagga's rule) the signal is passed on to
// every instance in place of its stop signal (stopTimeout still applies),
// and RunDaemon returns an *ExitCodeError with 128+signal.
type ShutdownSignal struct{ Signal syscall.Signal }

func (s *ShutdownSignal) Error() string { return "received " + proc.SignalName(s.Signal) }

// errAllSucceeded is the cause of the end of a run whose instances all
// exited 0 under ExitAllSucceeded: RunDaemon returns nil.
var errAllSucceeded = errors.New("every instance exited 0")

// exitWatcher is the StatusSink in front of the status writer that carries
// out an exit policy. It needs nothing from the programs beyond what they
// report:
//
//   - an "Exited" event is an instance that ended without being asked to
//     (a stop, scale-down or rollout ends in "Stopped", never "Exited"); a
//     failed start is one too, with code 127. It carries the exit typed
//     (status.Event.Exit): the message is for people, never parsed.
//   - the statuses tell when every instance is EXITED with code 0.
//
// Under either policy nothing is restarted (see exitPolicyAdmit), so an
// instance that exited stays EXITED.
type exitWatcher struct {
	StatusSink
	policy ExitPolicy
	// programs lists the programs the daemon runs now (the manifests, after
	// --only and --exclude): success waits until each has reported.
	programs func() ([]string, error)
	// stop ends the run with its cause (context.CancelCauseFunc).
	stop func(error)
	log  logr.Logger

	mu       sync.Mutex
	statuses map[string]status.ProgramStatus
	stopped  bool
}

func newExitWatcher(inner StatusSink, policy ExitPolicy, programs func() ([]string, error), stop func(error), log logr.Logger) *exitWatcher {
	return &exitWatcher{StatusSink: inner, policy: policy, programs: programs, stop: stop, log: log,
		statuses: map[string]status.ProgramStatus{}}
}

func (w *exitWatcher) Event(ev status.Event) {
	w.StatusSink.Event(ev)
	if ev.Reason != "Exited" || ev.Instance == "" || ev.Exit == nil {
		return
	}
	code, sig := ev.Exit.Code, ev.Exit.Signal
	if w.policy == ExitAllSucceeded && sig == "" && code == 0 {
		return // stays finished; the status that follows may complete the run
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.end(&ExitCodeError{Code: exitCode(code, sig), Instance: ev.Instance, How: describeExit(code, sig), Policy: w.policy})
}

func (w *exitWatcher) Update(st status.ProgramStatus) {
	w.StatusSink.Update(st)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.statuses[st.Metadata.Name] = st
	if c := findCondition(st.Status.Conditions, status.ConditionSpecValid); c != nil &&
		c.Status == status.ConditionFalse && len(st.Status.Instances) == 0 {
		// Never valid, so never run: nothing will ever end or succeed.
		w.end(&ExitCodeError{Code: 1, Instance: st.Metadata.Name, How: "has an invalid manifest: " + c.Message, Policy: w.policy})
		return
	}
	w.checkAllSucceeded()
}

func (w *exitWatcher) Delete(name string) {
	w.StatusSink.Delete(name)
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.statuses, name)
	w.checkAllSucceeded()
}

// checkAllSucceeded ends the run when, under ExitAllSucceeded, at least one
// instance ran and every instance of every program exited 0. Called with mu.
func (w *exitWatcher) checkAllSucceeded() {
	if w.policy != ExitAllSucceeded || w.stopped {
		return
	}
	ran := false
	for _, st := range w.statuses {
		for _, in := range st.Status.Instances {
			e := in.LastExit
			if State(in.State) != Exited || e == nil || e.Code != 0 || e.Signal != "" {
				return
			}
			ran = true
		}
	}
	if !ran {
		return
	}
	// A program that has not reported yet may still have to run.
	names, err := w.programs()
	if err != nil {
		return
	}
	for _, name := range names {
		if _, ok := w.statuses[name]; !ok {
			return
		}
	}
	w.stopped = true
	w.log.Info("Every instance exited 0: stopping", "policy", string(w.policy))
	w.stop(errAllSucceeded)
}

// end stops the run for cause, once. Called with mu.
func (w *exitWatcher) end(cause *ExitCodeError) {
	if w.stopped {
		return
	}
	w.stopped = true
	w.log.Info("An instance ended: stopping everything", "instance", cause.Instance, "reason", cause.How, "exitCode", cause.Code, "policy", string(w.policy))
	w.stop(cause)
}

func findCondition(cs []status.Condition, typ string) *status.Condition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

// exitCode is the daemon's exit code for an instance's exit, as a shell
// reports it: the code, or 128+signal; 1 when neither is known.
func exitCode(code int, signal string) int {
	if signal != "" {
		n, err := strconv.Atoi(signal)
		if err != nil {
			n = int(unix.SignalNum("SIG" + signal))
		}
		if n > 0 {
			return 128 + n
		}
		return 1
	}
	if code < 0 || code > 255 {
		return 1
	}
	return code
}

// exitPolicyAdmit is the scanner's admission under an exit policy other
// than never: on top of admit, it runs every program as restartPolicy:
// Never (a copy; the parsed spec is not changed). An instance that ends
// stays ended, as vagga never restarts either: under ExitOnFailure its end
// stops everything anyway, and under ExitAllSucceeded an instance that
// exited 0 must stay finished. The restart policy is not part of the spec
// hash, so this changes no hash.
func exitPolicyAdmit(admit func(*spec.Program) (*spec.Program, error)) func(*spec.Program) (*spec.Program, error) {
	return func(p *spec.Program) (*spec.Program, error) {
		p, err := admit(p)
		if err != nil {
			return nil, err
		}
		never := *p
		never.Spec.RestartPolicy = spec.RestartNever
		return &never, nil
	}
}

// programFilter returns the names filter of --only and --exclude; nil when
// both are empty. It refuses names that cannot name a program.
func programFilter(only, exclude []string) (func(string) bool, error) {
	if len(only) == 0 && len(exclude) == 0 {
		return nil, nil
	}
	set := func(flag string, names []string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, n := range names {
			if !spec.ValidName(n) {
				return nil, fmt.Errorf("%s: %q is not a program name", flag, n)
			}
			m[n] = true
		}
		return m, nil
	}
	in, err := set("--only", only)
	if err != nil {
		return nil, err
	}
	out, err := set("--exclude", exclude)
	if err != nil {
		return nil, err
	}
	return func(name string) bool {
		return (len(in) == 0 || in[name]) && !out[name]
	}, nil
}

// listPrograms returns the programs of the manifests in dir that filter
// keeps: every name the manifest store lists, duplicates included (the
// scanner reports those as invalid).
func listPrograms(dir string, filter func(string) bool) ([]string, error) {
	l, err := manifest.NewDir(dir).List()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, name := range l.Names() {
		if filter == nil || filter(name) {
			names = append(names, name)
		}
	}
	return names, nil
}
