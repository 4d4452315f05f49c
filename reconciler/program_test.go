package reconciler

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

type harness struct {
	t       *testing.T
	name    string
	clock   *fakeclock.Clock
	starter *fakeStarter
	sink    *fakeSink
	p       *program
	last    desired
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, name: "web", clock: fakeclock.New(), starter: &fakeStarter{}, sink: &fakeSink{}}
	h.p = newProgram(t.Context(), "web", programOptions{log: testr.New(t), clock: h.clock, starter: h.starter, sink: h.sink, spawnSlots: make(chan struct{}, 4)})
	go h.p.run()
	t.Cleanup(h.shutdown)
	return h
}

// shutdown stops the program as the daemon does at exit and waits for it,
// and checks that no status was changed after it was published.
func (h *harness) shutdown() {
	shutdownAll(h.t, h.clock, h)
	if msg := h.sink.contractBroken(); msg != "" {
		h.t.Error(msg)
	}
}

// shutdownAll stops programs together, as the daemon does at exit, and waits
// for all of them.
func shutdownAll(t *testing.T, clock *fakeclock.Clock, hs ...*harness) {
	for _, h := range hs {
		d := h.last
		d.shutdown = true
		h.p.set(d)
	}
	// Instances that ignore their stop signal end at stopTimeout: the clock
	// passes it, stepped in the poll until the program is done.
	for _, h := range hs {
		if !waitfor.Until(waitTimeout, func() bool {
			select {
			case <-h.p.done:
				return true
			default:
				clock.Step(time.Minute)
				return false
			}
		}) {
			t.Errorf("%s did not finish within %v of shutdown", h.name, waitTimeout)
			return
		}
	}
}

// apply hands the program the manifest src (a spec body under "spec:").
func (h *harness) apply(specBody string) {
	h.t.Helper()
	prog, errs := spec.Parse(h.name+".yaml", []byte("spec:\n"+specBody))
	if errs != nil {
		h.t.Fatal(errs)
	}
	h.last = desired{prog: prog, hash: spec.Hash(prog)}
	h.p.set(h.last)
}

// waitFor polls the published status.
func (h *harness) waitFor(what string, cond func(st status.Status) bool) status.Status {
	h.t.Helper()
	var st status.Status
	waitfor.Condition(h.t, waitTimeout, func() bool {
		st = h.sink.status().Status
		return cond(st)
	}, "%s", what)
	return st
}

// started waits until n instances have a pid (their startSeconds timers are
// then armed) and returns the status.
func (h *harness) started(n int) status.Status {
	h.t.Helper()
	return h.waitFor("instances with pids", func(st status.Status) bool {
		c := 0
		for _, in := range st.Instances {
			if in.Pid != 0 {
				c++
			}
		}
		return c == n && len(h.starter.alive()) == n
	})
}

func (h *harness) phase(phase string, ready int) status.Status {
	h.t.Helper()
	return h.waitFor("phase "+phase, func(st status.Status) bool { return st.Phase == phase && st.ReadyReplicas == ready })
}

func TestScaleUpAndDown(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  replicas: 3\n")
	st := h.started(3)
	if st.Phase != "Progressing" || states(h.sink.status()) != "[0:STARTING 1:STARTING 2:STARTING]" {
		t.Fatalf("before startSeconds: %s %s", st.Phase, states(h.sink.status()))
	}
	h.clock.Step(time.Second)
	h.phase("Running", 3)
	first := h.starter.alive()[0]

	h.apply("  command: sleep 1000\n  replicas: 1\n")
	h.waitFor("scaled down", func(st status.Status) bool { return len(st.Instances) == 1 && st.Phase == "Running" })
	alive := h.starter.alive()
	if len(alive) != 1 || alive[0] != first {
		t.Fatalf("the lowest index must keep running untouched: %v", alive)
	}
	var stopping []string
	for _, r := range h.sink.reasons() {
		if strings.HasPrefix(r, "Stopping") {
			stopping = append(stopping, r)
		}
	}
	if strings.Join(stopping, ",") != "Stopping web-2,Stopping web-1" {
		t.Errorf("highest index first: %v", stopping)
	}
	if h.sink.count("Scaled") != 1 {
		t.Errorf("want one Scaled event: %v", h.sink.reasons())
	}
	waitfor.Condition(t, waitTimeout, func() bool {
		for _, p := range h.starter.all() {
			p.mu.Lock()
			leaked := p.exited && !p.released
			p.mu.Unlock()
			if leaked {
				return false
			}
		}
		return true
	}, "stopped processes released")
}

func TestBackoffToFatalAndEditClears(t *testing.T) {
	h := newHarness(t)
	body := "  command: /bin/false\n  startRetries: 3\n  restartDelay: 100ms\n  maxRestartDelay: 1s\n"
	h.apply(body)
	for i, delay := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		h.started(1)
		h.starter.alive()[0].exit(proc.ExitStatus{Code: 1})
		st := h.waitFor("BACKOFF", func(st status.Status) bool {
			return len(st.Instances) == 1 && st.Instances[0].State == string(Backoff)
		})
		in := st.Instances[0]
		if in.NextRetryAt == nil || !in.NextRetryAt.Equal(h.clock.Now().Add(delay)) {
			t.Fatalf("attempt %d: nextRetryAt %v, want now+%v", i, in.NextRetryAt, delay)
		}
		if in.LastExit == nil || in.LastExit.Code != 1 || !strings.Contains(in.Message, "exited too quickly") {
			t.Fatalf("attempt %d: lastExit %+v message %q", i, in.LastExit, in.Message)
		}
		h.clock.Step(delay - time.Millisecond)
		if n := len(h.starter.all()); n != i+1 {
			t.Fatalf("restarted before the delay: %d starts", n)
		}
		h.clock.Step(time.Millisecond)
	}
	h.started(1)
	h.starter.alive()[0].exit(proc.ExitStatus{Code: 1})
	st := h.waitFor("FATAL", func(st status.Status) bool { return st.Phase == "Failed" })
	if st.Instances[0].State != string(Fatal) || st.Instances[0].Restarts != 2 || h.sink.count("Fatal") != 1 {
		t.Fatalf("%+v %v", st.Instances[0], h.sink.reasons())
	}
	h.clock.Step(time.Hour)
	if len(h.starter.all()) != 3 {
		t.Fatal("a FATAL instance must not restart by itself")
	}

	// An edit that leaves the hash alone also gives FATAL another chance.
	h.apply(strings.Replace(body, "startRetries: 3", "startRetries: 5", 1))
	h.started(1)
	h.starter.alive()[0].exit(proc.ExitStatus{Code: 1})
	h.waitFor("BACKOFF after the retry", func(st status.Status) bool { return st.Instances[0].State == string(Backoff) })

	// An edit of the command clears FATAL and starts afresh.
	h.apply("  command: /bin/true\n  startRetries: 3\n")
	h.started(1)
	st = h.sink.status().Status
	if st.Instances[0].Restarts != 0 || st.Instances[0].State != string(Starting) {
		t.Fatalf("after the edit: %+v", st.Instances[0])
	}
}

func TestRestartAfterRunning(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  startSeconds: 1s\n  restartDelay: 50ms\n")
	h.started(1)
	h.clock.Step(time.Second)
	h.phase("Running", 1)
	h.starter.alive()[0].exit(proc.ExitStatus{Code: 0})
	h.waitFor("BACKOFF after a good run", func(st status.Status) bool { return st.Instances[0].State == string(Backoff) })
	h.clock.Step(50 * time.Millisecond)
	st := h.started(1)
	if st.Instances[0].Restarts != 1 || h.sink.count("BackOff") != 0 {
		t.Fatalf("restarts %d, events %v", st.Instances[0].Restarts, h.sink.reasons())
	}
}

func TestOneShotJob(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: \"true\"\n  restartPolicy: Never\n  startSeconds: 0s\n")
	h.started(1)
	h.starter.alive()[0].exit(proc.ExitStatus{Code: 0})
	st := h.waitFor("EXITED", func(st status.Status) bool { return st.Instances[0].State == string(Exited) })
	if st.Phase != "Completed" || st.Conditions[1].Status != status.ConditionTrue || st.Conditions[3].Type != status.ConditionComplete || st.Conditions[3].Status != status.ConditionTrue {
		t.Fatalf("a completed job is done, not degraded: %s %+v", st.Phase, st.Conditions)
	}
	h.clock.Step(time.Hour)
	if len(h.starter.all()) != 1 {
		t.Fatal("restartPolicy Never restarted")
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	h := newHarness(t)
	h.starter.onStart = func(p *fakeProcess) { p.diesOn[syscall.SIGTERM] = false }
	h.apply("  command: sleep 1000\n  stopTimeout: 2s\n  startSeconds: 0s\n")
	h.phase("Running", 1)
	p := h.starter.alive()[0]
	h.apply("  command: sleep 1000\n  stopTimeout: 2s\n  startSeconds: 0s\n  desired: stopped\n")
	h.waitFor("STOPPING", func(st status.Status) bool { return st.Instances[0].State == string(Stopping) })
	// The stop signal goes out off the program's goroutine (signalGroup).
	waitfor.Condition(t, waitTimeout, func() bool { return len(p.sent()) == 1 }, "SIGTERM sent")
	h.clock.Step(2*time.Second - time.Millisecond)
	if sent := p.sent(); len(sent) != 1 || sent[0] != syscall.SIGTERM {
		t.Fatalf("before stopTimeout: %v", sent)
	}
	h.clock.Step(time.Millisecond)
	st := h.waitFor("stopped", func(st status.Status) bool { return st.Phase == "Stopped" && len(st.Instances) == 0 })
	if sent := p.sent(); len(sent) != 2 || sent[1] != syscall.SIGKILL {
		t.Fatalf("signals %v", sent)
	}
	if h.sink.count("Killed") != 1 || st.Desired != "stopped" {
		t.Fatalf("events %v desired %s", h.sink.reasons(), st.Desired)
	}
}

func TestRollingUpdateOneAtATime(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  replicas: 3\n")
	h.started(3)
	h.clock.Step(time.Second)
	h.phase("Running", 3)
	old := h.starter.alive()
	h.apply("  command: sleep 2000\n  replicas: 3\n")
	newHash := h.last.hash
	for round := 0; round < 3; round++ {
		st := h.waitFor("one new instance starting", func(st status.Status) bool {
			// With a pid, its startSeconds timer is armed: the clock
			// step below makes it ready.
			started := 0
			for _, in := range st.Instances {
				if in.SpecHash == newHash && in.Pid != 0 {
					started++
				}
			}
			return st.UpdatedReplicas == round+1 && st.ReadyReplicas == 2 && started == round+1
		})
		replaced := 0
		for _, p := range old {
			if p.hasExited() {
				replaced++
			}
		}
		if replaced != round+1 {
			t.Fatalf("round %d: %d old instances stopped, want %d (maxUnavailable 1)", round, replaced, round+1)
		}
		if st.Phase != "Progressing" {
			t.Fatalf("round %d: phase %s", round, st.Phase)
		}
		h.clock.Step(time.Second)
	}
	st := h.phase("Running", 3)
	for _, in := range st.Instances {
		if in.SpecHash != newHash {
			t.Errorf("%s still runs %s", in.Name, in.SpecHash)
		}
	}
	if h.sink.count("SpecChanged") != 1 {
		t.Errorf("events %v", h.sink.reasons())
	}
}

func TestRecreateStopsAllFirst(t *testing.T) {
	h := newHarness(t)
	h.starter.onStart = func(p *fakeProcess) { p.diesOn[syscall.SIGTERM] = false }
	h.apply("  command: sleep 1000\n  replicas: 2\n  startSeconds: 0s\n  updateStrategy: {type: Recreate}\n")
	h.phase("Running", 2)
	old := h.starter.alive()
	h.apply("  command: sleep 2000\n  replicas: 2\n  startSeconds: 0s\n  updateStrategy: {type: Recreate}\n")
	h.waitFor("both stopping", func(st status.Status) bool {
		return len(st.Instances) == 2 && st.Instances[0].State == string(Stopping) && st.Instances[1].State == string(Stopping)
	})
	old[0].exit(proc.ExitStatus{Code: 0})
	h.waitFor("one stopped", func(st status.Status) bool { return st.Instances[0].State == string(Stopped) })
	if n := len(h.starter.all()); n != 2 {
		t.Fatalf("a new instance started while an old one runs: %d starts", n)
	}
	old[1].exit(proc.ExitStatus{Code: 0})
	h.phase("Running", 2)
	if n := len(h.starter.all()); n != 4 {
		t.Fatalf("%d starts", n)
	}
}

func TestInvalidEditKeepsInstances(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  startSeconds: 0s\n")
	h.phase("Running", 1)
	bad := h.last
	bad.invalid = errors.New("web.yaml:3:3: spec.replicas: must be between 0 and 10000")
	for range 3 {
		h.p.set(bad)
	}
	st := h.waitFor("SpecValid False", func(st status.Status) bool {
		c, ok := status.FindCondition(st.Conditions, status.ConditionSpecValid)
		return ok && c.Status == status.ConditionFalse
	})
	if st.Phase != "Running" || len(h.starter.all()) != 1 || len(h.starter.all()[0].sent()) != 0 {
		t.Fatalf("the running instance was touched: %s", st.Phase)
	}
	if h.sink.count("SpecInvalid") != 1 {
		t.Fatalf("want one SpecInvalid event: %v", h.sink.reasons())
	}
	h.apply("  command: sleep 1000\n  startSeconds: 0s\n")
	h.waitFor("SpecValid True", func(st status.Status) bool {
		c, _ := status.FindCondition(st.Conditions, status.ConditionSpecValid)
		return c.Status == status.ConditionTrue
	})
}

func TestLiveSettingsDoNotRestart(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  startSeconds: 0s\n  replicas: 2\n")
	h.phase("Running", 2)
	for range 3 { // the same desired state again: nothing to do
		h.p.set(h.last)
	}
	h.apply("  command: sleep 1000\n  startSeconds: 0s\n  replicas: 2\n  startRetries: 9\n  stopTimeout: 1s\n  restartPolicy: OnFailure\n")
	waitfor.Condition(t, waitTimeout, func() bool { return !h.p.pending() }, "the new spec taken")
	// The new policy applies in place, to the next exit handled: exit 0 under
	// OnFailure ends the instance. (Instances start in parallel: find
	// instance 1's process by its index.)
	for _, p := range h.starter.alive() {
		if p.index == 1 {
			p.exit(proc.ExitStatus{Code: 0})
		}
	}
	h.waitFor("EXITED", func(st status.Status) bool { return st.Instances[1].State == string(Exited) })
	// That status was published after a pass with the new spec.
	if n := len(h.starter.all()); n != 2 {
		t.Fatalf("supervision settings restarted instances: %d starts", n)
	}
	for _, p := range h.starter.alive() {
		if len(p.sent()) != 0 {
			t.Fatalf("pid %d (instance %d) was signalled", p.pid, p.index)
		}
	}
}

func TestSpawnFailureBacksOff(t *testing.T) {
	h := newHarness(t)
	h.starter.fail = errors.New(`exec: "nope": executable file not found in $PATH`)
	h.apply("  command: nope\n")
	st := h.waitFor("BACKOFF", func(st status.Status) bool {
		return len(st.Instances) == 1 && st.Instances[0].State == string(Backoff)
	})
	if !strings.Contains(st.Instances[0].Message, "start failed: exec") {
		t.Fatalf("message %q", st.Instances[0].Message)
	}
}

func TestDeleteStopsAndRemoves(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  replicas: 2\n  startSeconds: 0s\n")
	h.phase("Running", 2)
	d := h.last
	d.deleted = true
	h.p.set(d)
	select {
	case <-h.p.done:
	case <-time.After(waitTimeout):
		t.Fatal("program did not end")
	}
	if len(h.starter.alive()) != 0 || !h.sink.deleted || h.sink.count("Deleted") != 1 {
		t.Fatalf("alive %d deleted %v events %v", len(h.starter.alive()), h.sink.deleted, h.sink.reasons())
	}
	if h.p.set(h.last) {
		t.Fatal("an ended program must refuse new desired state")
	}
}

// post never blocks, however long run is busy: the exit watcher posts from
// its own goroutine, which every other exit waits for. Every message posted
// is handled, and once the program has ended post refuses.
func TestPostNeverBlocks(t *testing.T) {
	p := newProgram(t.Context(), "web", programOptions{log: testr.New(t), clock: fakeclock.New(), starter: &fakeStarter{},
		sink: &fakeSink{}, spawnSlots: make(chan struct{}, 4)})
	const n = 3000 // far more than any channel buffer would hold
	replies := make([]chan error, n)
	posted := make(chan struct{})
	go func() { // run has not started: nothing takes the messages yet
		defer close(posted)
		for i := range replies {
			replies[i] = make(chan error, 1)
			if !p.post(signalReq{index: 0, sig: syscall.SIGHUP, reply: replies[i]}) {
				t.Error("post refused before the program ended")
				return
			}
		}
	}()
	select {
	case <-posted:
	case <-time.After(waitTimeout):
		t.Fatal("post blocked while run was not taking messages")
	}
	go p.run()
	for i, r := range replies {
		select {
		case err := <-r:
			if err == nil || !strings.Contains(err.Error(), "no running instance") {
				t.Fatalf("message %d: %v", i, err)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("message %d was not handled", i)
		}
	}
	p.set(desired{shutdown: true})
	select {
	case <-p.done:
	case <-time.After(waitTimeout):
		t.Fatal("the program did not end at shutdown")
	}
	if p.post(signalReq{index: 0, sig: syscall.SIGHUP, reply: make(chan error, 1)}) {
		t.Error("post accepted a message after the program ended")
	}
}

func TestSignalInstances(t *testing.T) {
	h := newHarness(t)
	h.starter.onStart = func(p *fakeProcess) { p.diesOn[syscall.SIGHUP] = false }
	h.apply("  command: sleep 1000\n  replicas: 2\n  startSeconds: 0s\n")
	h.phase("Running", 2)
	reply := make(chan error, 1)
	h.p.post(signalReq{index: 1, sig: syscall.SIGHUP, reply: reply})
	if err := <-reply; err != nil {
		t.Fatal(err)
	}
	alive := h.starter.alive()
	if len(alive[0].sent()) != 0 || len(alive[1].sent()) != 1 {
		t.Fatalf("signals: %v %v", alive[0].sent(), alive[1].sent())
	}
}

// TestStopAllIsSettled: stopping all of many instances drives each exit on
// its own, without a pass over every instance per exit, and ends with every
// instance stopped and forgotten.
func TestStopAllIsSettled(t *testing.T) {
	const n = 50
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  replicas: 50\n  startSeconds: 0s\n")
	h.phase("Running", n)
	before := h.p.fullPasses.Load()
	h.apply("  command: sleep 1000\n  replicas: 50\n  startSeconds: 0s\n  desired: stopped\n")
	h.waitFor("all stopped", func(st status.Status) bool { return len(st.Instances) == 0 && st.Phase == "Stopped" })
	if len(h.starter.alive()) != 0 {
		t.Fatalf("still alive: %v", h.starter.alive())
	}
	// One pass for the new desired state, perhaps one more when a message
	// arrives with it; not one per exit.
	if passes := h.p.fullPasses.Load() - before; passes > 3 {
		t.Errorf("%d full passes to stop %d instances, want at most 3", passes, n)
	}
	if got := h.sink.count("Stopped"); got != n {
		t.Errorf("%d Stopped events, want %d", got, n)
	}
}
