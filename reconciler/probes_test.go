package reconciler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/reconciled/reconciled/health"
	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// fakeProber answers as told and counts its calls.
type fakeProber struct {
	mu     sync.Mutex
	ok     bool
	output string
	calls  int
}

func (f *fakeProber) Probe(context.Context) health.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.ok {
		return health.Result{OK: true}
	}
	return health.Result{Err: errors.New("exit code 1"), Output: f.output}
}

func (f *fakeProber) set(ok bool, output string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ok, f.output = ok, output
}

func (f *fakeProber) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// fakeProbes builds a new fakeProber for every probe of every process; a new
// one starts with the answer initial[argv] (by the spec's command), or ok.
type fakeProbes struct {
	mu      sync.Mutex
	initial map[string]bool
	built   []builtProbe
}

type builtProbe struct {
	index    int
	liveness bool
	pr       *fakeProber
}

func (f *fakeProbes) BuildProbe(p *spec.Program, index int, probe *spec.Probe) (health.Prober, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok, set := f.initial[strings.Join(p.Spec.Command, " ")]
	pr := &fakeProber{ok: ok || !set, output: "not yet"}
	f.built = append(f.built, builtProbe{index: index, liveness: probe == p.Spec.LivenessProbe, pr: pr})
	return pr, nil
}

// last returns the newest prober of instance index of the given kind.
func (f *fakeProbes) last(index int, liveness bool) *fakeProber {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.built) - 1; i >= 0; i-- {
		if b := f.built[i]; b.index == index && b.liveness == liveness {
			return b.pr
		}
	}
	return nil
}

// newest returns the last prober built of the given kind.
func (f *fakeProbes) newest(liveness bool) *fakeProber {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.built) - 1; i >= 0; i-- {
		if f.built[i].liveness == liveness {
			return f.built[i].pr
		}
	}
	return nil
}

func (f *fakeProbes) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.built)
}

// newProbeHarness is newHarness with probes.
func newProbeHarness(t *testing.T) (*harness, *fakeProbes) {
	g := newDaemonHarness(t)
	return g.add("web")
}

// daemonHarness runs several programs on one clock and one dependency graph,
// and shuts them down together, as the daemon does.
type daemonHarness struct {
	t     *testing.T
	clock *fakeclock.Clock
	deps  *depGraph
	hs    []*harness
}

func newDaemonHarness(t *testing.T) *daemonHarness {
	g := &daemonHarness{t: t, clock: fakeclock.New(), deps: newDepGraph()}
	t.Cleanup(func() { shutdownAll(t, g.clock, g.hs...) })
	return g
}

// add starts the program name, with probes built by the returned fakeProbes.
func (g *daemonHarness) add(name string) (*harness, *fakeProbes) {
	probes := &fakeProbes{initial: map[string]bool{}}
	h := &harness{t: g.t, name: name, clock: g.clock, starter: &fakeStarter{}, sink: &fakeSink{}}
	h.p = newProgram(g.t.Context(), name, programOptions{log: testr.New(g.t), clock: g.clock, starter: h.starter, probes: probes,
		sink: h.sink, deps: g.deps, spawnSlots: make(chan struct{}, 4)})
	go h.p.run()
	g.hs = append(g.hs, h)
	return h, probes
}

// probeOnce steps the clock one period and waits until pr has run n times.
func (h *harness) probeOnce(pr *fakeProber, period time.Duration, n int) {
	h.t.Helper()
	h.clock.Step(period)
	waitfor.Condition(h.t, waitTimeout, func() bool { return pr.count() >= n }, "probe call")
}

const readiness = "  readinessProbe: {exec: {command: [check]}, period: 1s, failureThreshold: 2}\n  startSeconds: 0\n"

func TestReadinessProbeGatesReady(t *testing.T) {
	h, probes := newProbeHarness(t)
	probes.initial["sleep 1000"] = false
	h.apply("  command: sleep 1000\n" + readiness)
	var pr *fakeProber
	waitfor.Condition(t, waitTimeout, func() bool { pr = probes.last(0, false); return pr != nil && pr.count() >= 1 }, "a readiness probe")
	// failureThreshold 2: the first failure does not decide yet.
	h.probeOnce(pr, time.Second, 2)
	st := h.waitFor("RUNNING, not ready", func(st status.Status) bool {
		return len(st.Instances) == 1 && st.Instances[0].State == "RUNNING" && !st.Instances[0].Ready &&
			st.Instances[0].Message == "readiness probe failed: exit code 1: not yet"
	})
	if st.Phase != "Progressing" || st.ReadyReplicas != 0 {
		t.Fatalf("phase %s ready %d", st.Phase, st.ReadyReplicas)
	}
	if h.sink.count("Ready") != 0 || h.sink.count("NotReady") != 0 {
		t.Fatalf("no Ready/NotReady before the probe passes: %v", h.sink.reasons())
	}

	pr.set(true, "")
	h.probeOnce(pr, time.Second, 3)
	st = h.phase("Running", 1)
	if !st.Instances[0].Ready || st.Instances[0].Message != "" {
		t.Fatalf("instance %+v", st.Instances[0])
	}
	if c := itCondition(status.ProgramStatus{Status: st}, status.ConditionAvailable); c.Status != status.ConditionTrue {
		t.Errorf("Available %+v", c)
	}

	pr.set(false, "db down")
	h.probeOnce(pr, time.Second, 4)
	h.probeOnce(pr, time.Second, 5) // still passing after one failure ...
	h.probeOnce(pr, time.Second, 6) // ... failing after two
	st = h.phase("Degraded", 0)
	if msg := st.Instances[0].Message; msg != "readiness probe failed: exit code 1: db down" {
		t.Errorf("message %q", msg)
	}
	h.probeOnce(pr, time.Second, 7)
	if got := h.sink.reasons(); strings.Count(strings.Join(got, ","), "NotReady") != 1 || h.sink.count("Ready ") != 1 {
		t.Errorf("want one Ready and one NotReady, not one per probe: %v", got)
	}
	if len(h.starter.all()) != 1 {
		t.Errorf("a failing readiness probe must not restart: %d processes", len(h.starter.all()))
	}
}

func TestLivenessProbeRestarts(t *testing.T) {
	h, probes := newProbeHarness(t)
	h.apply("  command: sleep 1000\n  startSeconds: 0\n  restartDelay: 0s\n  livenessProbe: {exec: {command: [check]}, period: 2s, failureThreshold: 3}\n")
	var pr *fakeProber
	waitfor.Condition(t, waitTimeout, func() bool { pr = probes.last(0, true); return pr != nil && pr.count() >= 1 }, "a liveness probe")
	first := h.starter.all()[0]
	pr.set(false, "deadlock detected")
	h.probeOnce(pr, 2*time.Second, 2)
	h.probeOnce(pr, 2*time.Second, 3)
	if h.sink.count("Unhealthy") != 0 || len(first.sent()) != 0 {
		t.Fatalf("two failures of three: %v, signals %v", h.sink.reasons(), first.sent())
	}
	h.probeOnce(pr, 2*time.Second, 4)
	h.waitFor("restarted", func(st status.Status) bool {
		return len(st.Instances) == 1 && st.Instances[0].Restarts == 1 && st.Instances[0].State == "RUNNING" && st.Instances[0].Pid != first.pid
	})
	if got := first.sent(); len(got) == 0 || got[0] != syscall.SIGTERM {
		t.Errorf("old process got %v, want SIGTERM (stopSignal)", got)
	}
	var unhealthy []status.Event
	h.sink.mu.Lock()
	for _, e := range h.sink.events {
		if e.Reason == "Unhealthy" {
			unhealthy = append(unhealthy, e)
		}
	}
	h.sink.mu.Unlock()
	if len(unhealthy) != 1 || unhealthy[0].Type != status.EventWarning ||
		unhealthy[0].Message != "liveness probe failed: exit code 1: deadlock detected" {
		t.Errorf("Unhealthy events %+v", unhealthy)
	}
	// The new process has probes of its own; the old ones are gone.
	waitfor.Condition(t, waitTimeout, func() bool { return probes.last(0, true) != pr }, "new probes")
	before := pr.count()
	h.clock.Step(10 * time.Second)
	if n := pr.count(); n != before {
		t.Errorf("the stopped process's probe ran again: %d -> %d", before, n)
	}
}

func TestRolloutWaitsForReadinessAndDeadline(t *testing.T) {
	h, probes := newProbeHarness(t)
	body := func(cmd string) string {
		return "  command: " + cmd + "\n  replicas: 2\n" + readiness
	}
	h.apply(body("sleep 1000"))
	h.phase("Running", 2)
	old := h.starter.alive()

	probes.initial["sleep 2000"] = false // the new version never becomes ready
	h.last = withAnnotation(t, body("sleep 2000"), "30s")
	h.p.set(h.last)
	newHash := h.last.hash
	st := h.waitFor("one new instance started, not ready", func(st status.Status) bool {
		// UpdatedReplicas counts the new instance while it spawns, before
		// its probe is built; with a pid, it has been (newest below is
		// then not an old instance's probe).
		started := 0
		for _, in := range st.Instances {
			if in.SpecHash == newHash && in.Pid != 0 {
				started++
			}
		}
		return st.UpdatedReplicas == 1 && st.ReadyReplicas == 1 && st.Phase == "Progressing" && started == 1
	})
	// Let the new instance's probe fail failureThreshold (2) times, so the
	// deadline's message can say why it is not ready.
	var pr *fakeProber
	waitfor.Condition(t, waitTimeout, func() bool { pr = probes.newest(false); return pr != nil && pr.count() >= 1 }, "the new instance's readiness probe")
	h.probeOnce(pr, time.Second, 2)
	h.waitFor("the new instance's probe failed", func(st status.Status) bool {
		for _, in := range st.Instances {
			if strings.HasPrefix(in.Message, "readiness probe failed") {
				return true
			}
		}
		return false
	})
	h.clock.Step(28 * time.Second)
	if old[1].hasExited() && old[0].hasExited() {
		t.Fatal("both old instances stopped while the new one is not ready")
	}
	h.clock.Step(time.Second)
	st = h.waitFor("deadline exceeded", func(st status.Status) bool {
		c := itCondition(status.ProgramStatus{Status: st}, status.ConditionProgressing)
		return c.Reason == "ProgressDeadlineExceeded"
	})
	c := itCondition(status.ProgramStatus{Status: st}, status.ConditionProgressing)
	if c.Status != status.ConditionFalse || !strings.Contains(c.Message, "not ready after 30s: readiness probe failed") || st.Phase != "Degraded" {
		t.Errorf("Progressing %+v, phase %s", c, st.Phase)
	}
	if alive := h.starter.alive(); len(alive) != 2 || (alive[0] != old[0] && alive[1] != old[1]) {
		t.Errorf("one old instance must keep serving: %v", alive)
	}

	// A fixed spec resumes the rollout.
	h.last = withAnnotation(t, body("sleep 3000"), "30s")
	h.p.set(h.last)
	// The clock passes the probes' periods until both new instances are
	// ready: stepped in the poll, as often as it looks.
	if !waitfor.Until(waitTimeout, func() bool {
		if st = h.sink.status().Status; st.Phase == "Running" && st.UpdatedReplicas == 2 && st.ReadyReplicas == 2 {
			return true
		}
		h.clock.Step(time.Second)
		return false
	}) {
		t.Fatalf("the fixed spec not rolled out: phase %s, %d updated, %d ready: %s", st.Phase, st.UpdatedReplicas, st.ReadyReplicas, states(h.sink.status()))
	}
	if c := itCondition(status.ProgramStatus{Status: st}, status.ConditionProgressing); c.Reason != "Complete" {
		t.Errorf("Progressing %+v", c)
	}
	if !old[0].hasExited() || !old[1].hasExited() {
		t.Error("old instances still running after the rollout")
	}
}

// withAnnotation parses a web manifest with the progress deadline set.
func withAnnotation(t *testing.T, body, deadline string) desired {
	t.Helper()
	src := "metadata:\n  annotations: {reconciled.dev/progressDeadline: " + deadline + "}\nspec:\n" + body
	prog, errs := spec.Parse("web.yaml", []byte(src))
	if errs != nil {
		t.Fatal(errs)
	}
	return desired{prog: prog, hash: spec.Hash(prog)}
}

// A liveness failure goes through the restart policy: under Never the
// instance ends EXITED, and before startSeconds it is a failed start.
func TestLivenessFailureFollowsRestartPolicy(t *testing.T) {
	h, probes := newProbeHarness(t)
	h.apply("  command: sleep 1000\n  startSeconds: 0\n  restartPolicy: Never\n  livenessProbe: {exec: {command: [check]}, period: 1s, failureThreshold: 1}\n")
	var pr *fakeProber
	waitfor.Condition(t, waitTimeout, func() bool { pr = probes.last(0, true); return pr != nil && pr.count() >= 1 }, "a liveness probe")
	pr.set(false, "stuck")
	h.probeOnce(pr, time.Second, 2)
	st := h.waitFor("EXITED", func(st status.Status) bool { return len(st.Instances) == 1 && st.Instances[0].State == "EXITED" })
	if n := len(h.starter.all()); n != 1 || st.Instances[0].Restarts != 0 {
		t.Errorf("restartPolicy Never: %d processes, %d restarts", n, st.Instances[0].Restarts)
	}
	if h.sink.count("Exited") != 1 {
		t.Errorf("want an Exited event: %v", h.sink.reasons())
	}

	g := newDaemonHarness(t)
	h2, probes2 := g.add("early")
	h2.apply("  command: sleep 1000\n  startSeconds: 10s\n  restartDelay: 1s\n  livenessProbe: {exec: {command: [check]}, period: 1s, failureThreshold: 1}\n")
	waitfor.Condition(t, waitTimeout, func() bool { pr = probes2.last(0, true); return pr != nil && pr.count() >= 1 }, "a liveness probe")
	pr.set(false, "stuck")
	h2.probeOnce(pr, time.Second, 2)
	st = h2.waitFor("BACKOFF", func(st status.Status) bool { return len(st.Instances) == 1 && st.Instances[0].State == "BACKOFF" })
	if !strings.Contains(st.Instances[0].Message, "liveness probe failed") || !strings.Contains(st.Instances[0].Message, "before startSeconds") {
		t.Errorf("message %q", st.Instances[0].Message)
	}
}
