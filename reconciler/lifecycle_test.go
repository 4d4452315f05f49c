package reconciler

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// lifeSpec parses a manifest body (under "spec:") for the lifecycle tests.
func lifeSpec(t *testing.T, body string) (*spec.Program, string) {
	t.Helper()
	p, errs := spec.Parse("web.yaml", []byte("spec:\n  command: sleep 1000\n"+body))
	if errs != nil {
		t.Fatal(errs)
	}
	return p, spec.Hash(p)
}

// effectString renders effects compactly, for comparing with a table.
func effectString(effs []effect) string {
	var out []string
	for _, e := range effs {
		switch e := e.(type) {
		case effSpawn:
			out = append(out, fmt.Sprintf("spawn#%d", e.gen))
		case effWatch:
			out = append(out, "watch")
		case effStartProbes:
			out = append(out, "probes+")
		case effStopProbes:
			out = append(out, "probes-")
		case effSignal:
			out = append(out, "signal "+proc.SignalName(e.sig))
		case effArmTimer:
			out = append(out, "timer "+e.d.String())
		case effCancelTimer:
			out = append(out, "timer-")
		case effAwaitGroup:
			out = append(out, "await")
		case effRelease:
			out = append(out, "release")
		case effRetire:
			out = append(out, "retire "+proc.SignalName(e.sig))
		case effEvent:
			out = append(out, e.reason)
		case effProgress:
			out = append(out, "progress")
		case effPreStop:
			out = append(out, "preStop "+e.timeout.String())
		default:
			out = append(out, fmt.Sprintf("%T", e))
		}
	}
	return strings.Join(out, ", ")
}

// TestTransition drives the pure lifecycle one event at a time: no
// goroutine, no clock, no process.
func TestTransition(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	started := now.Add(-5 * time.Second)
	prog, hash := lifeSpec(t, "  startSeconds: 1s\n  restartDelay: 100ms\n  startRetries: 2\n")
	newProg, newHash := lifeSpec(t, "  startSeconds: 1s\n  env: {A: b}\n")
	ready, _ := lifeSpec(t, "  startSeconds: 0s\n  readinessProbe: {exec: {command: [\"true\"]}}\n")
	cur := world{cur: prog, curHash: hash}
	on := func(ph phase) life {
		return life{phase: ph, target: prog, targetHash: hash, spec: prog, hash: hash, gen: 1, pid: 42, startedAt: &started}
	}
	cases := []struct {
		name    string
		from    life
		ev      any
		w       world
		phase   phase
		effects string
		check   func(l life) error
	}{
		{name: "stopped with a target spawns", from: life{target: prog, targetHash: hash}, ev: evDrive{}, w: cur,
			phase: phSpawning, effects: "probes-, spawn#1",
			check: func(l life) error {
				return expect(l.spec == prog && l.hash == hash && l.gen == 1, "spec and gen taken")
			}},
		{name: "stopped waits for dependencies", from: life{target: prog, targetHash: hash}, ev: evDrive{},
			w: world{waiting: "waiting for db: 0/1 ready"}, phase: phStopped,
			check: func(l life) error { return expect(l.message == "waiting for db: 0/1 ready", "message %q", l.message) }},
		{name: "stopped starts nothing at shutdown", from: life{target: prog, targetHash: hash}, ev: evDrive{},
			w: world{shutdown: true}, phase: phStopped},
		{name: "spawned with startSeconds", from: life{phase: phSpawning, spec: prog, hash: hash, gen: 1},
			ev: evSpawned{pid: 7, at: now}, w: cur, phase: phStarting, effects: "Started, watch, probes+, timer 1s",
			check: func(l life) error { return expect(l.pid == 7 && l.startedAt.Equal(now), "pid %d", l.pid) }},
		{name: "spawned with startSeconds 0 is ready", from: life{phase: phSpawning, spec: newSpec(t, "  startSeconds: 0s\n"), gen: 1},
			ev: evSpawned{pid: 7, at: now}, phase: phRunning, effects: "Started, watch, probes+, progress, Ready"},
		{name: "readiness holds back Ready", from: life{phase: phSpawning, spec: ready, gen: 1},
			ev: evSpawned{pid: 7, at: now, hasReadiness: true}, phase: phRunning, effects: "Started, watch, probes+"},
		{name: "readiness passes", from: life{phase: phRunning, spec: ready, hash: hash, hasReadiness: true, pid: 7},
			ev: evProbe{passing: true}, w: cur, phase: phRunning, effects: "progress, Ready"},
		{name: "readiness fails after ready", from: life{phase: phRunning, spec: ready, hasReadiness: true, probeReady: true, wasReady: true, pid: 7},
			ev: evProbe{why: "exit 1"}, phase: phRunning, effects: "NotReady",
			check: func(l life) error {
				return expect(l.message == "readiness probe failed: exit 1", "message %q", l.message)
			}},
		{name: "failed spawn backs off", from: life{phase: phSpawning, spec: prog, gen: 1},
			ev: evSpawned{err: errors.New("no such file"), at: now}, phase: phBackoff, effects: "Exited, timer 100ms, BackOff",
			check: func(l life) error {
				return expect(l.failures == 1 && strings.HasPrefix(l.message, "start failed: no such file; "), "failures %d message %q", l.failures, l.message)
			}},
		{name: "a limit stops the start: no failure counted", from: life{phase: phSpawning, spec: prog, gen: 1, failures: 1},
			ev:    evSpawned{err: &LimitError{Limit: "open files", msg: "the daemon's open-files limit is reached", err: syscall.EMFILE}, at: now},
			phase: phBackoff, effects: "timer 100ms, ResourceLimit",
			check: func(l life) error {
				return expect(l.failures == 1 && l.pid == 0 && strings.HasPrefix(l.message, "start failed: the daemon's open-files limit is reached: too many open files"),
					"failures %d message %q", l.failures, l.message)
			}},
		{name: "a limit at shutdown starts nothing new", from: life{phase: phSpawning, spec: prog, gen: 1},
			ev: evSpawned{err: &LimitError{Limit: "open files", msg: "the daemon's open-files limit is reached", err: syscall.EMFILE}, at: now},
			w:  world{shutdown: true}, phase: phExited, effects: ""},
		{name: "startSeconds elapsed", from: on(phStarting), ev: evTimer{}, phase: phRunning, effects: "Ready"},
		{name: "early exit is a failed start", from: on(phStarting), ev: evExited{code: 1, at: now}, w: cur,
			phase: phBackoff, effects: "retire TERM, timer-, Exited, probes-, timer 100ms, BackOff",
			check: func(l life) error {
				return expect(l.lastExit.Code == 1 && l.failures == 1 && l.pid == 0 && l.nextRetry.Equal(now.Add(100*time.Millisecond)), "%+v", l)
			}},
		{name: "the last failed start is fatal", from: func() life { l := on(phStarting); l.failures = 1; return l }(),
			ev: evExited{code: 1, at: now}, w: cur, phase: phFatal, effects: "retire TERM, timer-, Exited, probes-, Fatal"},
		{name: "running exit restarts after restartDelay", from: on(phRunning), ev: evExited{code: 0, at: now}, w: cur,
			phase: phBackoff, effects: "retire TERM, timer-, Exited, probes-, timer 100ms"},
		{name: "nothing restarts at shutdown", from: on(phRunning), ev: evExited{code: 0, at: now}, w: world{shutdown: true},
			phase: phExited, effects: "retire TERM, timer-, Exited, probes-"},
		{name: "backoff elapsed", from: on(phBackoff), ev: evTimer{}, phase: phSpawning, effects: "probes-, spawn#2",
			check: func(l life) error { return expect(l.restarts == 1, "restarts %d", l.restarts) }},
		{name: "a new spec stops a running instance", from: func() life { l := on(phRunning); l.target, l.targetHash = newProg, newHash; return l }(),
			ev: evDrive{}, phase: phStopping, effects: "timer-, probes-, Stopping, signal TERM, timer 10s",
			check: func(l life) error { return expect(l.stop == stopWanted, "stop %d", l.stop) }},
		{name: "no target stops a running instance", from: func() life { l := on(phRunning); l.target, l.targetHash = nil, ""; return l }(),
			ev: evDrive{}, phase: phStopping, effects: "timer-, probes-, Stopping, signal TERM, timer 10s"},
		{name: "the leader exits while stopping", from: on(phStopping), ev: evExited{code: -1, signal: "TERM", at: now},
			phase: phDraining, effects: "await"},
		{name: "stopTimeout kills the group", from: on(phDraining), ev: evTimer{}, phase: phDraining, effects: "signal KILL, Killed"},
		{name: "the group is gone", from: func() life {
			l := on(phDraining)
			l.stop = stopWanted
			l.lastExit = &status.Exit{Code: -1, Signal: "TERM"}
			return l
		}(),
			ev: evGroupGone{}, phase: phStopped, effects: "timer-, release, Stopped",
			check: func(l life) error { return expect(l.pid == 0 && l.stop == stopNone, "%+v", l) }},
		{name: "liveness fails", from: on(phRunning), ev: evProbe{liveness: true, why: "timeout"},
			phase: phStopping, effects: "Unhealthy, timer-, probes-, Stopping, signal TERM, timer 10s",
			check: func(l life) error { return expect(l.stop == stopUnhealthyRunning, "stop %d", l.stop) }},
		{name: "gone after a liveness failure: the restart policy decides",
			from: func() life {
				l := on(phDraining)
				l.stop, l.lastExit = stopUnhealthyRunning, &status.Exit{Code: -1, Signal: "TERM", RanFor: status.Duration(5 * time.Second)}
				return l
			}(),
			ev: evGroupGone{}, w: cur, phase: phBackoff, effects: "timer-, release, Exited, timer 100ms",
			check: func(l life) error {
				return expect(strings.HasPrefix(l.message, "liveness probe failed; "), "message %q", l.message)
			}},
		{name: "an edit gives FATAL another chance", from: on(phFatal), ev: evEdited{}, phase: phFatalRetry},
		{name: "and the next drive takes it", from: func() life { l := on(phFatalRetry); l.restarts = 3; return l }(), ev: evDrive{}, w: cur,
			phase: phSpawning, effects: "probes-, spawn#2",
			check: func(l life) error { return expect(l.restarts == 0, "restarts %d", l.restarts) }},
		{name: "restart stops a running instance with its stop signal", from: on(phRunning), ev: evRestart{}, w: cur,
			phase: phStopping, effects: "timer-, probes-, Stopping, signal TERM, timer 10s",
			check: func(l life) error { return expect(l.stop == stopRestart, "stop %d", l.stop) }},
		{name: "restart --force kills it", from: on(phStarting), ev: evRestart{force: true}, w: cur,
			phase: phStopping, effects: "timer-, probes-, Stopping, signal KILL, timer 10s"},
		{name: "restarted: gone, it ends stopped", from: func() life {
			l := on(phDraining)
			l.stop, l.lastExit = stopRestart, &status.Exit{Code: -1, Signal: "TERM"}
			return l
		}(), ev: evGroupGone{}, w: cur, phase: phStopped, effects: "timer-, release, Stopped"},
		{name: "and the next drive starts it again, counters kept", from: func() life {
			l := life{target: prog, targetHash: hash, spec: prog, hash: hash, gen: 1, restarts: 2}
			return l
		}(), ev: evDrive{}, w: cur, phase: phSpawning, effects: "probes-, spawn#2",
			check: func(l life) error { return expect(l.restarts == 2, "restarts %d", l.restarts) }},
		{name: "restart in BACKOFF starts at once", from: on(phBackoff), ev: evRestart{}, w: cur,
			phase: phSpawning, effects: "timer-, probes-, spawn#2"},
		{name: "restart of FATAL starts afresh", from: func() life { l := on(phFatal); l.failures, l.restarts = 2, 4; return l }(),
			ev: evRestart{}, w: cur, phase: phSpawning, effects: "timer-, probes-, spawn#2",
			check: func(l life) error {
				return expect(l.failures == 0 && l.restarts == 0, "failures %d restarts %d", l.failures, l.restarts)
			}},
		{name: "restart starts nothing at shutdown", from: on(phExited), ev: evRestart{}, w: world{shutdown: true}, phase: phExited},
		{name: "restart while stopping changes nothing", from: on(phStopping), ev: evRestart{}, w: cur, phase: phStopping},
		{name: "late news changes nothing", from: on(phBackoff), ev: evExited{code: 1, at: now}, phase: phBackoff},
		{name: "a probe verdict after the process left changes nothing", from: on(phExited), ev: evProbe{liveness: true}, phase: phExited},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, effs, err := transition(c.from, c.ev, c.w, now)
			if err != nil {
				t.Fatal(err)
			}
			if got.phase != c.phase {
				t.Errorf("phase %s, want %s", got.phase, c.phase)
			}
			if s := effectString(effs); s != c.effects {
				t.Errorf("effects [%s], want [%s]", s, c.effects)
			}
			if c.check != nil {
				if err := c.check(got); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// An illegal move is returned as an error and changes nothing.
func TestTransitionIllegal(t *testing.T) {
	prog, hash := lifeSpec(t, "")
	// A spawn reported to an instance that is not spawning is late news:
	// nothing changes, and it is no error.
	from := life{phase: phStopping, target: prog, targetHash: hash, spec: prog, hash: hash}
	got, effs, err := transition(from, evSpawned{pid: 1}, world{}, time.Now())
	if err != nil || got != from || len(effs) != 0 {
		t.Fatalf("a spawn reported to a stopping instance: %v %v %v", got.phase, effs, err)
	}
	if _, _, err := transition(from, struct{}{}, world{}, time.Now()); err == nil {
		t.Error("an unknown event must be an error")
	}
	// A move outside the phase table fails the step and keeps the phase.
	st := &step{life: life{phase: phStopped}}
	st.to(phRunning)
	if st.err == nil || st.phase != phStopped {
		t.Errorf("stopped -> running: err %v, phase %s", st.err, st.phase)
	}
}

func newSpec(t *testing.T, body string) *spec.Program {
	p, _ := lifeSpec(t, body)
	return p
}

func expect(ok bool, format string, args ...any) error {
	if ok {
		return nil
	}
	return fmt.Errorf(format, args...)
}

// Every exit goes to the front of recentExits, which keeps five.
func TestRecentExits(t *testing.T) {
	prog, hash := lifeSpec(t, "  restartDelay: 0s\n  startSeconds: 0s\n")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	w := world{cur: prog, curHash: hash}
	l := life{phase: phRunning, spec: prog, hash: hash, target: prog, targetHash: hash, pid: 7, startedAt: &now, gen: 1}
	var kept []*[]status.Exit
	for code := 1; code <= 7; code++ {
		var err error
		l, _, err = transition(l, evExited{code: code, at: now.Add(time.Duration(code) * time.Second)}, w, now)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, l.recent)
		l.phase, l.pid = phRunning, 7 // as if it started again
	}
	var codes []int
	for _, x := range *l.recent {
		codes = append(codes, x.Code)
	}
	if fmt.Sprint(codes) != "[7 6 5 4 3]" {
		t.Errorf("recentExits codes %v, want [7 6 5 4 3]", codes)
	}
	if first := *kept[0]; len(first) != 1 || first[0].Code != 1 {
		t.Errorf("an earlier history changed: %+v", first)
	}
}

// health: Unknown until every probe has passed, Unhealthy while one fails,
// nothing without probes or outside STARTING and RUNNING.
func TestHealth(t *testing.T) {
	both, hash := lifeSpec(t, "  startSeconds: 0s\n  readinessProbe: {exec: {command: [\"true\"]}}\n  livenessProbe: {exec: {command: [\"true\"]}}\n")
	plain, _ := lifeSpec(t, "")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	w := world{cur: both, curHash: hash}
	l := life{phase: phSpawning, spec: both, hash: hash, target: both, targetHash: hash, gen: 1}
	steps := []struct {
		ev   any
		want string
	}{
		{evSpawned{pid: 7, at: now, hasReadiness: true}, healthUnknown},
		{evProbe{passing: true}, healthUnknown},
		{evProbe{liveness: true, passing: true}, healthHealthy},
		{evProbe{why: "exit 1"}, healthUnhealthy},
		{evProbe{passing: true}, healthHealthy},
		{evProbe{liveness: true, why: "timeout"}, ""}, // STOPPING now: no longer probed
		{evExited{code: -1, signal: "TERM", at: now}, ""},
	}
	for i, s := range steps {
		var err error
		if l, _, err = transition(l, s.ev, w, now); err != nil {
			t.Fatal(err)
		}
		if got := l.health(); got != s.want {
			t.Errorf("step %d (%s): health %q, want %q", i, eventName(s.ev), got, s.want)
		}
	}
	if h := (&life{phase: phRunning, spec: plain}).health(); h != "" {
		t.Errorf("without probes: health %q", h)
	}
}

// Restarts after good starts back off too, until an instance runs
// backoffResetAfter.
func TestCrashLoopBackoff(t *testing.T) {
	prog, hash := lifeSpec(t, "  restartDelay: 100ms\n  maxRestartDelay: 1s\n  startSeconds: 0s\n  backoffResetAfter: 1m\n")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	w := world{cur: prog, curHash: hash}
	l := life{phase: phRunning, spec: prog, hash: hash, target: prog, targetHash: hash, pid: 7, startedAt: &now, gen: 1}
	var delays []time.Duration
	for _, ran := range []time.Duration{time.Second, time.Second, time.Second, 2 * time.Minute, time.Second} {
		var err error
		l, _, err = transition(l, evExited{code: 1, at: now.Add(ran)}, w, now)
		if err != nil {
			t.Fatal(err)
		}
		delays = append(delays, l.nextRetry.Sub(now.Add(ran)))
		l.phase, l.pid = phRunning, 7 // as if it started again
	}
	if got := fmt.Sprint(delays); got != "[100ms 200ms 400ms 100ms 200ms]" {
		t.Errorf("delays %s, want [100ms 200ms 400ms 100ms 200ms]", got)
	}
}

// A stop with preStop: the hook first, the signal when it ends, SIGKILL
// stopTimeout after the stop began but at least 2s after the signal.
func TestPreStop(t *testing.T) {
	prog, hash := lifeSpec(t, "  startSeconds: 0s\n  stopTimeout: 10s\n  lifecycle: {preStop: {exec: {command: [drain]}, timeout: 30s}}\n")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	w := world{cur: prog, curHash: hash}
	running := life{phase: phRunning, spec: prog, hash: hash, target: prog, targetHash: hash, pid: 7, startedAt: &now, gen: 1}
	running.target = nil // no longer wanted: a stop
	l, effs, err := transition(running, evDrive{}, w, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := effectString(effs); !strings.Contains(got, "preStop 10s, timer 10s") || strings.Contains(got, "signal") {
		t.Fatalf("stop effects %q: want preStop (its timeout capped at stopTimeout) and the timer, no signal", got)
	}
	early, effs, err := transition(l, evPreStopDone{}, w, now.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := effectString(effs); got != "Stopping, signal TERM" || early.preStop != nil {
		t.Errorf("preStop done early: %q", got)
	}
	late, effs, err := transition(l, evPreStopDone{err: errors.New("preStop failed: exit 1")}, w, now.Add(9*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := effectString(effs); got != "PreStopFailed, Stopping, signal TERM, timer 2s" || late.phase != phStopping {
		t.Errorf("preStop done late: %q", got)
	}
	killed, effs, _ := transition(l, evTimer{}, w, now.Add(10*time.Second))
	if got := effectString(effs); !strings.Contains(got, "signal KILL") || killed.preStop == nil || !killed.preStop.killed {
		t.Errorf("stopTimeout during preStop: %q", got)
	}
	if _, effs, _ := transition(killed, evPreStopDone{}, w, now.Add(11*time.Second)); len(effs) != 0 {
		t.Errorf("preStop's end after SIGKILL: %q", effectString(effs))
	}
}

// The leader exits while its preStop hook runs: the instance is STOPPED
// only once the hook has ended and the group is gone, in either order; a
// hook that ends first sends the stop signal to what is left of the group.
func TestPreStopLeaderExits(t *testing.T) {
	prog, hash := lifeSpec(t, "  startSeconds: 0s\n  stopTimeout: 10s\n  lifecycle: {preStop: {exec: {command: [drain]}}}\n")
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	w := world{cur: prog, curHash: hash}
	l := life{phase: phRunning, spec: prog, hash: hash, pid: 7, startedAt: &now, gen: 1}
	l, _, err := transition(l, evDrive{}, w, now)
	if err != nil {
		t.Fatal(err)
	}
	exited, effs, err := transition(l, evExited{code: 0, at: now.Add(time.Second)}, w, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got := effectString(effs); got != "await" || exited.phase != phDraining {
		t.Fatalf("exit during preStop: %q in %s", got, exited.phase)
	}
	later := now.Add(2 * time.Second)
	for _, c := range []struct {
		name  string
		evs   []any
		wants []string // effects of each event
	}{
		{"group gone, then the hook", []any{evGroupGone{}, evPreStopDone{}},
			[]string{"", "timer-, release, Stopped"}},
		{"the hook, then the group", []any{evPreStopDone{}, evGroupGone{}},
			[]string{"Stopping, signal TERM", "timer-, release, Stopped"}},
		{"a failed hook after the group", []any{evGroupGone{}, evPreStopDone{err: errors.New("exit 1")}},
			[]string{"", "PreStopFailed, timer-, release, Stopped"}},
		{"SIGKILL, the group, then the hook", []any{evTimer{}, evGroupGone{}, evPreStopDone{}},
			[]string{"signal KILL, Killed", "", "timer-, release, Stopped"}},
	} {
		s := exited
		for i, ev := range c.evs {
			var effs []effect
			if s, effs, err = transition(s, ev, w, later); err != nil {
				t.Fatal(err)
			}
			if got := effectString(effs); got != c.wants[i] {
				t.Errorf("%s: step %d (%s): effects %q, want %q", c.name, i, eventName(ev), got, c.wants[i])
			}
		}
		if s.phase != phStopped || s.preStop != nil {
			t.Errorf("%s: ends %s (preStop %+v), want STOPPED", c.name, s.phase, s.preStop)
		}
	}
}

// An edit that says desired: stopped and changes stopTimeout or stopSignal
// (supervision settings, not in the hash) stops by the new settings; a
// stop for a rollout (another hash) by those the process ran with.
func TestStopBySettingsOfTheEdit(t *testing.T) {
	old, hash := lifeSpec(t, "  startSeconds: 0s\n  stopTimeout: 10s\n")
	edited, editedHash := lifeSpec(t, "  startSeconds: 0s\n  stopTimeout: 1s\n  stopSignal: INT\n")
	if editedHash != hash {
		t.Fatalf("stopTimeout and stopSignal changed the hash")
	}
	now := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	running := life{phase: phRunning, spec: old, hash: hash, pid: 7, startedAt: &now, gen: 1}
	l, effs, err := transition(running, evDrive{}, world{cur: edited, curHash: hash}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := effectString(effs); got != "timer-, probes-, Stopping, signal INT, timer 1s" || l.spec != edited {
		t.Errorf("stop after an edit of its settings: %q", got)
	}
	rolled, rolledHash := lifeSpec(t, "  env: {A: b}\n  startSeconds: 0s\n  stopTimeout: 1s\n")
	running.target, running.targetHash = rolled, rolledHash
	if _, effs, _ := transition(running, evDrive{}, world{cur: rolled, curHash: rolledHash}, now); effectString(effs) != "timer-, probes-, Stopping, signal TERM, timer 10s" {
		t.Errorf("stop for a rollout: %q, want the settings it ran with", effectString(effs))
	}
}
