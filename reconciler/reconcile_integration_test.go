package reconciler

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// Reconcile semantics (docs/reference.md §3) against real processes.

func itRefs(t *testing.T, st status.ProgramStatus) map[int]itProc {
	t.Helper()
	out := map[int]itProc{}
	for idx, pid := range itPids(st) {
		out[idx] = itRef(t, pid)
	}
	return out
}

func TestITStartAndScale(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("scale")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`))
	st := itWaitStatus(t, d.dir, name, "1 running", itReady(1))
	first := itRefs(t, st)

	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 3"))
	st = itWaitStatus(t, d.dir, name, "3 running", itReady(3))
	if pid := itPids(st)[0]; pid != first[0].pid {
		t.Errorf("scaling up restarted instance 0: pid %d -> %d", first[0].pid, pid)
	}
	three := itRefs(t, st)

	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 1"))
	st = itWaitStatus(t, d.dir, name, "scaled down to 1", itReady(1))
	if pid := itPids(st)[0]; pid != first[0].pid {
		t.Errorf("scaling down stopped instance 0: pid %d -> %d", first[0].pid, pid)
	}
	itWaitGone(t, "instances 1 and 2", three[1], three[2])
	if !first[0].alive() {
		t.Errorf("instance 0 (pid %d) died", first[0].pid)
	}
	// Highest index first.
	var stopping []string
	for _, ev := range itEvents(t, d.dir, name) {
		if ev.Reason == "Stopping" {
			stopping = append(stopping, ev.Instance)
		}
	}
	if want := []string{name + "-2", name + "-1"}; strings.Join(stopping, ",") != strings.Join(want, ",") {
		t.Errorf("Stopping events for %v, want %v", stopping, want)
	}
	evs := itEvents(t, d.dir, name)
	if n := itCount(evs, "Scaled", ""); n != 2 {
		t.Errorf("want 2 Scaled events, got %d:\n%s", n, itEventsString(evs))
	}
}

func TestITDesiredStoppedAndBack(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("updown")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	before := itRefs(t, itWaitStatus(t, d.dir, name, "2 running", itReady(2)))

	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2", "desired: stopped"))
	st := itWaitStatus(t, d.dir, name, "stopped", func(st status.ProgramStatus) bool {
		for _, in := range st.Status.Instances {
			if in.State != string(Stopped) {
				return false
			}
		}
		return st.Status.Phase == "Stopped" && st.Status.Desired == "stopped"
	})
	itWaitGone(t, "stopped instances", before[0], before[1])
	if st.Status.ReadyReplicas != 0 {
		t.Errorf("readyReplicas = %d after stop", st.Status.ReadyReplicas)
	}

	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2", "desired: running"))
	st = itWaitStatus(t, d.dir, name, "running again", itReady(2))
	if st.Status.Desired != "running" {
		t.Errorf("desired = %q", st.Status.Desired)
	}
}

func TestITDelete(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("del")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "sleep 1000 & sleep 1000"]`, "replicas: 2"))
	st := itWaitStatus(t, d.dir, name, "2 running", itReady(2))
	var procs []itProc
	for _, pid := range itPids(st) {
		procs = append(procs, itWaitGroup(t, pid, 2)...)
	}

	itRemove(t, d.dir, name)
	itWaitGone(t, "instances and their children", procs...)
	if !waitfor.Until(waitTimeout, func() bool {
		_, err := os.Stat(status.StatusPath(d.dir, name))
		return os.IsNotExist(err)
	}) {
		t.Fatalf("status file still there")
	}
	evs := itEvents(t, d.dir, name)
	if len(evs) == 0 || evs[len(evs)-1].Reason != "Deleted" {
		t.Errorf("last event is not Deleted:\n%s", itEventsString(evs))
	}
}

// itRollout changes the command of a 3-replica program and checks the update
// replaced every instance.
func itRollout(t *testing.T, d *itDaemon, name, strategy string, sample func(status.ProgramStatus)) []status.Event {
	t.Helper()
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 3", "updateStrategy: "+strategy))
	st := itWaitStatus(t, d.dir, name, "3 running", itReady(3))
	old := itRefs(t, st)
	oldHash := st.Status.SpecHash

	var wg sync.WaitGroup
	stop := make(chan struct{})
	if sample != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if st, err := status.ReadFile(status.StatusPath(d.dir, name)); err == nil {
					sample(st)
				}
				time.Sleep(2 * time.Millisecond) // makes time pass: the sampler's cadence, it waits for nothing
			}
		}()
	}
	itWrite(t, d.dir, name, itSpec(`["sleep", "1001"]`, "replicas: 3", "updateStrategy: "+strategy))
	st = itWaitStatus(t, d.dir, name, "3 updated", func(st status.ProgramStatus) bool {
		return st.Status.SpecHash != oldHash && itReadyCmd(3, "sleep", "1001")(st)
	})
	close(stop)
	wg.Wait()
	for idx, pid := range itPids(st) {
		if pid == old[idx].pid {
			t.Errorf("instance %d kept pid %d", idx, pid)
		}
	}
	itWaitGone(t, "old instances", old[0], old[1], old[2])
	for _, in := range st.Status.Instances {
		if in.SpecHash != st.Status.SpecHash {
			t.Errorf("%s runs %s, status says %s", in.Name, in.SpecHash, st.Status.SpecHash)
		}
	}
	evs := itEvents(t, d.dir, name)
	for i, ev := range evs {
		if ev.Reason == "SpecChanged" {
			return evs[i:]
		}
	}
	t.Fatalf("no SpecChanged event:\n%s", itEventsString(evs))
	return nil
}

func TestITRollingUpdate(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("roll")
	var mu sync.Mutex
	maxNotReady, samples := 0, 0
	evs := itRollout(t, d, name, "{type: RollingUpdate, maxUnavailable: 1}", func(st status.ProgramStatus) {
		notReady := st.Status.Replicas
		for _, in := range st.Status.Instances {
			if in.Index < st.Status.Replicas && in.Ready {
				notReady--
			}
		}
		mu.Lock()
		maxNotReady = max(maxNotReady, notReady)
		samples++
		mu.Unlock()
	})
	if maxNotReady > 1 {
		t.Errorf("status showed %d instances not ready at once (maxUnavailable 1)", maxNotReady)
	}
	// Exactly, from the events: an instance is unavailable from its
	// Stopping to the Ready of its replacement.
	down := map[string]bool{}
	for _, ev := range evs {
		switch ev.Reason {
		case "Stopping":
			down[ev.Instance] = true
			if len(down) > 1 {
				t.Errorf("%d instances unavailable at once at %s:\n%s", len(down), ev.Time.Format("15:04:05.000"), itEventsString(evs))
			}
		case "Ready":
			delete(down, ev.Instance)
		}
	}
	t.Logf("%d status samples during the rollout", samples)
}

func TestITRecreate(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("recreate")
	evs := itRollout(t, d, name, "{type: Recreate}", nil)
	lastStopped, firstStarted := -1, -1
	for i, ev := range evs {
		switch ev.Reason {
		case "Stopped":
			lastStopped = i
		case "Started":
			if firstStarted < 0 {
				firstStarted = i
			}
		}
	}
	if itCount(evs, "Stopped", "*") != 3 || lastStopped > firstStarted {
		t.Errorf("Recreate: want all 3 old instances stopped before any new one starts:\n%s", itEventsString(evs))
	}
}

// Fields outside the spec hash (replicas, labels, other annotations,
// supervision settings) apply without restarting running instances.
func TestITNonHashChangesKeepInstances(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("nohash")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	st := itWaitStatus(t, d.dir, name, "2 running", itReady(2))
	before, hash := itPids(st), st.Status.SpecHash

	changed := "metadata:\n  labels: {team: x}\n  annotations: {note: changed}\n" +
		itSpec(`["sleep", "1000"]`, "replicas: 3", "stopTimeout: 600ms", "restartPolicy: OnFailure",
			"startRetries: 5", "restartDelay: 30ms", "desired: running")
	itWrite(t, d.dir, name, changed)
	st = itWaitStatus(t, d.dir, name, "3 running", itReady(3))
	if st.Status.SpecHash != hash {
		t.Errorf("spec hash changed: %s -> %s", hash, st.Status.SpecHash)
	}
	after := itPids(st)
	for idx, pid := range before {
		if after[idx] != pid {
			t.Errorf("instance %d restarted: pid %d -> %d", idx, pid, after[idx])
		}
	}
	if n := itCount(itEvents(t, d.dir, name), "Stopping", "*"); n != 0 {
		t.Errorf("%d Stopping events", n)
	}
}

func TestITInvalidEditKeepsInstances(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("invalid")
	good := itSpec(`["sleep", "1000"]`, "replicas: 2")
	itWrite(t, d.dir, name, good)
	st := itWaitStatus(t, d.dir, name, "2 running", itReady(2))
	before := itPids(st)

	itWrite(t, d.dir, name, itSpec(`["sleep", "2000"]`, "replicas: 20000"))
	st = itWaitStatus(t, d.dir, name, "SpecValid False", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionSpecValid).Status == status.ConditionFalse
	})
	if c := itCondition(st, status.ConditionSpecValid); !strings.Contains(c.Message, "spec.replicas") || !strings.Contains(c.Message, name+".yaml:") {
		t.Errorf("SpecValid message %q does not locate the error", c.Message)
	}
	evs := itWaitEvents(t, d.dir, name, "SpecInvalid event", itHasReason("SpecInvalid", ""))
	for _, ev := range evs {
		if ev.Reason == "SpecInvalid" && ev.Type != status.EventWarning {
			t.Errorf("SpecInvalid event of type %s", ev.Type)
		}
	}
	// Nothing happens to the instances.
	if !waitfor.Never(300*time.Millisecond, func() bool {
		st, err := status.ReadFile(status.StatusPath(d.dir, name))
		return err == nil && !maps.Equal(itPids(st), before)
	}) {
		t.Errorf("an invalid edit changed the instances")
	}
	for _, pid := range before {
		if !itAlive(pid) {
			t.Errorf("pid %d died", pid)
		}
	}

	// Fixing the file resumes: same spec as before, so the same instances.
	itWrite(t, d.dir, name, good)
	st = itWaitStatus(t, d.dir, name, "SpecValid True", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionSpecValid).Status == status.ConditionTrue && itReady(2)(st)
	})
	if !maps.Equal(itPids(st), before) {
		t.Errorf("fixing the file restarted instances: %v -> %v", before, itPids(st))
	}
	// And a real change after the fix is applied.
	itWrite(t, d.dir, name, itSpec(`["sleep", "1001"]`, "replicas: 2"))
	itWaitStatus(t, d.dir, name, "sleep 1001", itReadyCmd(2, "sleep", "1001"))
}

// A bad file does not block the others, and one program's change never
// touches another program's processes.
func TestITProgramsIsolated(t *testing.T) {
	d := itStart(t, itOpts{})
	a, b, bad := d.name("a"), d.name("b"), d.name("bad")
	itWrite(t, d.dir, bad, "spec: {command: [")
	itWrite(t, d.dir, a, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	itWrite(t, d.dir, b, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	itWaitStatus(t, d.dir, a, "a running", itReady(2))
	stB := itWaitStatus(t, d.dir, b, "b running", itReady(2))
	pidsB := itPids(stB)
	nB := len(itEvents(t, d.dir, b))

	itWrite(t, d.dir, a, itSpec(`["sleep", "1001"]`, "replicas: 3"))
	itWaitStatus(t, d.dir, a, "a updated", itReadyCmd(3, "sleep", "1001"))
	itRemove(t, d.dir, a)
	itWaitEvents(t, d.dir, a, "a deleted", itHasReason("Deleted", ""))

	stB = itWaitStatus(t, d.dir, b, "b", itReady(2))
	if !maps.Equal(itPids(stB), pidsB) {
		t.Errorf("b's instances changed: %v -> %v", pidsB, itPids(stB))
	}
	if evs := itEvents(t, d.dir, b); len(evs) != nB {
		t.Errorf("b got events from a's changes:\n%s", itEventsString(evs[nB:]))
	}
	if _, err := os.Stat(filepath.Join(d.dir, bad+".status.yaml")); err != nil {
		t.Errorf("the invalid program has no status file: %v", err)
	}
}
