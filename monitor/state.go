package monitor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// State is the daemon as its observers see it, kept in memory: the latest
// status of every program, counters of events, probe results and hook
// runs, and the loop's passes. It is the daemon's observers (Observers), and
// everything else reads it.
//
// Writers are the daemon's goroutines: a program's, publishing a status or
// an event; a probe worker, counting a result; the loop, after a pass. None
// of them ever waits for a reader: a reader takes no lock at all (cowMap,
// atomics), and a writer takes only State's own locks, held for a map copy
// when a program, an event reason or a probe appears for the first time.
type State struct {
	programs cowMap[string, *program]
	passes   atomic.Uint64
	// passSeconds is safe for concurrent use and collected as it is.
	passSeconds prometheus.Histogram
	view        atomic.Pointer[reconciler.DaemonView]
	stopping    atomic.Bool
	// changed has one slot: a change marks it, a reader (the systemd
	// status) takes the mark and reads the whole state.
	changed chan struct{}

	ready  atomic.Bool
	readyC chan struct{} // closed when ready turns true
	// readyMu guards pending: nil before the first pass; then the programs
	// of the first pass that have not started yet.
	readyMu sync.Mutex
	pending map[string]bool
}

// program is what State holds of one program. Each counter carries the
// label pairs of its series, made once when it appears, so that a scrape
// only reads its value (gather.go).
type program struct {
	name string
	// label is program="NAME", shared by every series of the program.
	label  *dto.LabelPair
	status atomic.Pointer[status.ProgramStatus]
	events cowMap[eventKey, *counter]
	// probes holds a *probeCounts per probeKey: a sync.Map, whose readers
	// take no lock for keys it has had for a while, because a program of
	// thousands of probed replicas adds thousands of keys at its start,
	// and a cowMap would copy itself for each.
	probes sync.Map
	hooks  cowMap[bool, *counter] // by success
	// memo is the metrics of the last status a scrape saw (memo.go).
	memo atomic.Pointer[memo]
}

type eventKey struct{ reason, typ string }

type probeKey struct {
	replica  int
	liveness bool
}

// counter is a count and the labels of its series.
type counter struct {
	n      atomic.Uint64
	labels []*dto.LabelPair
}

// probeCounts counts one probe's results; labels[0] are the labels of its
// failures, labels[1] of its successes.
type probeCounts struct {
	success, failure atomic.Uint64
	labels           [2][]*dto.LabelPair
}

// NewState returns an empty State.
func NewState() *State {
	return &State{
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "reconciled_reconcile_pass_seconds",
			Help: "Time a pass of the loop took: reading the directory, decoding and validating the manifests, telling every program its desired state.",
			// A pass of a handful of manifests takes well under a
			// millisecond; one of thousands some tens.
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		changed: make(chan struct{}, 1),
		readyC:  make(chan struct{}),
	}
}

// Observers returns the daemon observers that feed s.
func (s *State) Observers() reconciler.Observers {
	return reconciler.Observers{Sink: s, Started: s.Started, Pass: s.Pass, Stopping: s.Stopping, HookRan: s.HookRan}
}

var _ reconciler.ProbeCounter = (*State)(nil)

func (s *State) program(name string) *program {
	return s.programs.loadOrStore(name, func() *program {
		return &program{name: name, label: labelPair("program", name)}
	})
}

// Update keeps st as the program's status (the reconciler never changes it
// afterwards).
func (s *State) Update(st status.ProgramStatus) {
	name := st.Metadata.Name
	s.program(name).status.Store(&st)
	s.mark()
	if !s.ready.Load() {
		s.readyMu.Lock()
		if s.pending != nil && s.pending[name] && started(&st) {
			delete(s.pending, name)
			s.checkReady()
		}
		s.readyMu.Unlock()
	}
}

// Event counts ev by program, reason and type.
func (s *State) Event(ev status.Event) {
	p := s.program(ev.Program)
	c := p.events.loadOrStore(eventKey{ev.Reason, ev.Type}, func() *counter {
		return &counter{labels: []*dto.LabelPair{p.label, labelPair("reason", ev.Reason), labelPair("type", ev.Type)}}
	})
	c.n.Add(1)
}

// Delete forgets the program, its counters included.
func (s *State) Delete(name string) {
	s.programs.delete(name)
	s.mark()
	if !s.ready.Load() {
		s.readyMu.Lock()
		if s.pending != nil {
			delete(s.pending, name)
			s.checkReady()
		}
		s.readyMu.Unlock()
	}
}

// ProbeCounter returns the counter of the results of one probe of instance
// index of program.
func (s *State) ProbeCounter(programName string, index int, liveness bool) func(ok bool) {
	p := s.program(programName)
	key := probeKey{index, liveness}
	v, ok := p.probes.Load(key)
	if !ok {
		v, _ = p.probes.LoadOrStore(key, newProbeCounts(p, index, liveness))
	}
	n := v.(*probeCounts)
	return func(ok bool) {
		if ok {
			n.success.Add(1)
		} else {
			n.failure.Add(1)
		}
	}
}

// HookRan counts a run of one of program's event hooks that ended
// (reconciler.Observers.HookRan, from the hook's goroutine).
func (s *State) HookRan(programName string, success bool) {
	p := s.program(programName)
	p.hooks.loadOrStore(success, func() *counter {
		return &counter{labels: []*dto.LabelPair{p.label, labelPair("result", result(success))}}
	}).n.Add(1)
}

// newProbeCounts returns the counts of a probe of instance index of p, with
// the labels of their series in the order they sort in: probe, program,
// replica, result.
func newProbeCounts(p *program, index int, liveness bool) *probeCounts {
	kind := "readiness"
	if liveness {
		kind = "liveness"
	}
	probe, replica := labelPair("probe", kind), labelPair("replica", strconv.Itoa(index))
	n := &probeCounts{}
	for i, r := range []string{result(false), result(true)} {
		n.labels[i] = []*dto.LabelPair{probe, p.label, replica, labelPair("result", r)}
	}
	return n
}

// labelPair returns a label pair; an invalid UTF-8 value (no name or word
// of ours has one) has its bad bytes replaced, which Prometheus requires.
func labelPair(name, value string) *dto.LabelPair {
	value = strings.ToValidUTF8(value, "\uFFFD")
	return &dto.LabelPair{Name: &name, Value: &value}
}

// Started keeps what the daemon lets its observers ask.
func (s *State) Started(v reconciler.DaemonView) { s.view.Store(&v) }

// Pass counts a pass of the loop; the first one names the programs whose
// start makes the daemon ready.
func (s *State) Pass(rep reconciler.PassReport) {
	s.passes.Add(1)
	s.passSeconds.Observe(rep.Took.Seconds())
	if s.ready.Load() {
		return
	}
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.pending != nil {
		return
	}
	s.pending = make(map[string]bool, len(rep.Programs))
	for _, name := range rep.Programs {
		if p, ok := s.programs.load(name); ok {
			if st := p.status.Load(); st != nil && started(st) {
				continue
			}
		}
		s.pending[name] = true
	}
	s.checkReady()
}

// Stopping marks the start of the shutdown: not ready any more.
func (s *State) Stopping() {
	s.stopping.Store(true)
	s.mark()
}

// checkReady turns ready once no program of the first pass is pending.
// Called with readyMu.
func (s *State) checkReady() {
	if len(s.pending) == 0 && !s.ready.Load() {
		s.ready.Store(true)
		close(s.readyC)
	}
}

// mark notes a change for Changed.
func (s *State) mark() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Ready reports whether the first full pass has started every instance it
// desired, and the daemon is not stopping: /readyz.
func (s *State) Ready() bool { return s.ready.Load() && !s.stopping.Load() }

// ReadyC is closed once the first full pass has started every instance it
// desired: systemd's READY=1.
func (s *State) ReadyC() <-chan struct{} { return s.readyC }

// Changed is marked after a change of any program's status, and when the
// daemon begins to stop; one mark stands for any number of changes.
func (s *State) Changed() <-chan struct{} { return s.changed }

// StoppingNow reports whether the daemon has begun to stop.
func (s *State) StoppingNow() bool { return s.stopping.Load() }

// errNotStarted: the daemon has not started its loop yet.
var errNotStarted = errors.New("the daemon has not started yet")

// Alive returns nil when the daemon's loop answers before ctx ends.
func (s *State) Alive(ctx context.Context) error {
	v := s.view.Load()
	if v == nil || v.Alive == nil {
		return errNotStarted
	}
	return v.Alive(ctx)
}

// started reports whether every instance st desires has been started, or
// tried (it may have failed), or waits for its dependencies: it is not
// STOPPED for another reason, nor still being spawned (STARTING without a
// pid). Readiness of the instances is not waited for.
func started(st *status.ProgramStatus) bool {
	waiting := false
	for _, c := range st.Status.Conditions {
		if c.Type == status.ConditionProgressing && c.Reason == "WaitingForDependencies" {
			waiting = true
		}
	}
	seen := 0
	for _, in := range st.Status.Instances {
		if in.Index >= st.Status.Replicas {
			continue
		}
		seen++
		switch reconciler.State(in.State) {
		case reconciler.Stopped:
			if !waiting {
				return false
			}
		case reconciler.Starting:
			if in.Pid == 0 {
				return false
			}
		}
	}
	return seen >= st.Status.Replicas
}

// Summary is one line for systemd's STATUS=: "12 programs, 40/41 ready, 1
// failed" (failed: instances that are FATAL), or while stopping "stopping:
// 3 instances left".
func (s *State) Summary() string {
	progs, want, ready, failed, left := 0, 0, 0, 0, 0
	for _, p := range s.programs.snapshot() {
		st := p.status.Load()
		if st == nil {
			continue
		}
		progs++
		want += st.Status.Replicas
		ready += st.Status.ReadyReplicas
		for _, in := range st.Status.Instances {
			switch reconciler.State(in.State) {
			case reconciler.Fatal:
				if in.Index < st.Status.Replicas {
					failed++
				}
			case reconciler.Stopped, reconciler.Exited:
			default:
				left++
			}
		}
	}
	if s.stopping.Load() {
		return "stopping: " + plural(left, "instance") + " left"
	}
	line := fmt.Sprintf("%s, %d/%d ready", plural(progs, "program"), ready, want)
	if failed > 0 {
		line += fmt.Sprintf(", %d failed", failed)
	}
	return line
}

// plural writes "1 program", "2 programs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
