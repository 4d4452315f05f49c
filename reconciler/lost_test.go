package reconciler

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// The graph numbers losses: a count that drops below want, or want going to
// 0, loses the condition; a scale-up on its way does not; each condition
// on its own.
func TestDepGraphCountsLosses(t *testing.T) {
	g := newDepGraph()
	g.join("web", make(chan struct{}, 1))
	g.setNeeds("web", []spec.Dependency{{Program: "db"}})
	started := []spec.Dependency{{Program: "db", Condition: spec.DependencyStarted}}
	ready := []spec.Dependency{{Program: "db", Condition: spec.DependencyReady}}
	lostAt := func(deps []spec.Dependency) uint64 { return g.look(deps).lostAt[0] }

	steps := []struct {
		name           string
		st             depState
		started, ready uint64 // the latest loss of each condition after the step
	}{
		{"first report: nothing lost", depState{want: 2, started: 2, ready: 2}, 0, 0},
		{"readiness fails on one", depState{want: 2, started: 2, ready: 1}, 0, 1},
		{"back", depState{want: 2, started: 2, ready: 2}, 0, 1},
		{"scale-up on its way", depState{want: 3, started: 2, ready: 2}, 0, 1},
		{"scaled up", depState{want: 3, started: 3, ready: 3}, 0, 1},
		{"one restarts", depState{want: 3, started: 2, ready: 2}, 2, 3},
		{"still down: no new loss", depState{want: 3, started: 2, ready: 1}, 2, 3},
		{"back", depState{want: 3, started: 3, ready: 3}, 2, 3},
		{"desired: stopped", depState{}, 4, 5},
	}
	for _, s := range steps {
		g.report("db", s.st)
		if a, b := lostAt(started), lostAt(ready); a != s.started || b != s.ready {
			t.Errorf("%s: lost at Started %d, Ready %d; want %d, %d", s.name, a, b, s.started, s.ready)
		}
	}
	if l := g.look(started); l.epoch != 5 || l.why[0] != "stopped" || l.waiting != "waiting for db: stopped" {
		t.Errorf("look %+v", l)
	}
	g.report("db", depState{want: 1, started: 1, ready: 1})
	g.leave("db") // deleted: lost
	if a := lostAt(started); a != 6 {
		t.Errorf("deleting db: lost at %d, want 6", a)
	}
}

// The lifecycle's side: an instance whose process is older than the latest
// loss is stopped (stop) or restarted once all is met (restart).
func TestTransitionLostDependency(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	started := now.Add(-5 * time.Second)
	prog, hash := lifeSpec(t, "  startSeconds: 1s\n")
	in := func(ph phase, epoch uint64) life {
		return life{phase: ph, target: prog, targetHash: hash, spec: prog, hash: hash, gen: 1, pid: 42, startedAt: &started, depEpoch: epoch,
			wasReady: ph == phRunning}
	}
	const waiting = "waiting for db: 0/1 started"
	cases := []struct {
		name    string
		from    life
		w       world
		phase   phase
		effects string
		check   func(l life) error
	}{
		{name: "stop: running before the loss is stopped", from: in(phRunning, 2),
			w: world{waiting: waiting, lost: lostView{epoch: 3, stop: 3}}, phase: phStopping,
			effects: "timer-, probes-, Stopping, signal TERM, timer 10s",
			check:   func(l life) error { return expect(l.stop == stopWanted, "stop %d", l.stop) }},
		{name: "stop: also when the dependency is back already", from: in(phStarting, 2),
			w: world{lost: lostView{epoch: 3, stop: 3}}, phase: phStopping,
			effects: "timer-, probes-, Stopping, signal TERM, timer 10s"},
		{name: "stop: started after the loss, left alone", from: in(phRunning, 3),
			w: world{lost: lostView{epoch: 3, stop: 3}}, phase: phRunning},
		{name: "stop: BACKOFF does not restart while it is lost", from: in(phBackoff, 2),
			w: world{waiting: waiting, lost: lostView{epoch: 3, stop: 3}}, phase: phStopped, effects: "timer-",
			check: func(l life) error { return expect(l.message == waiting, "message %q", l.message) }},
		{name: "stop: EXITED left alone", from: in(phExited, 2),
			w: world{waiting: waiting, lost: lostView{epoch: 3, stop: 3}}, phase: phExited},
		{name: "stop: STOPPED waits", from: life{target: prog, targetHash: hash, spec: prog, hash: hash, gen: 1, depEpoch: 2},
			w: world{waiting: waiting, lost: lostView{epoch: 3, stop: 3}}, phase: phStopped,
			check: func(l life) error { return expect(l.message == waiting, "message %q", l.message) }},
		{name: "stop: met again, it starts with the new count", from: life{target: prog, targetHash: hash, spec: prog, hash: hash, gen: 1, depEpoch: 2},
			w: world{lost: lostView{epoch: 4, stop: 3}}, phase: phSpawning, effects: "probes-, spawn#2",
			check: func(l life) error { return expect(l.depEpoch == 4, "depEpoch %d", l.depEpoch) }},
		{name: "restart: keeps running while it is lost", from: in(phRunning, 2),
			w: world{waiting: waiting, lost: lostView{epoch: 3, restart: 3}}, phase: phRunning},
		{name: "restart: met again, restarted", from: in(phRunning, 2),
			w: world{lost: lostView{epoch: 3, restart: 3}}, phase: phStopping,
			effects: "timer-, probes-, Stopping, signal TERM, timer 10s",
			check:   func(l life) error { return expect(l.stop == stopRestart, "stop %d", l.stop) }},
		{name: "restart: BACKOFF restarts at its time anyway", from: in(phBackoff, 2),
			w: world{waiting: waiting, lost: lostView{epoch: 3, restart: 3}}, phase: phBackoff},
		{name: "nothing at shutdown", from: in(phRunning, 2),
			w: world{shutdown: true, lost: lostView{epoch: 3, stop: 3}}, phase: phRunning},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.w.cur, c.w.curHash = prog, hash
			got, effs, err := transition(c.from, evDrive{}, c.w, now)
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

// The controller with each policy: db's only instance crashes and comes
// back (a loss the dependent sees while it lasts), then db is stopped
// (desired: stopped) and started again.
func TestOnLost(t *testing.T) {
	for _, policy := range []spec.LostPolicy{spec.LostIgnore, spec.LostStop, spec.LostRestart} {
		t.Run(string(policy), func(t *testing.T) {
			g := newDaemonHarness(t)
			db, _ := g.add("db")
			dbSpec := "  command: sleep 1000\n  startSeconds: 1s\n  restartDelay: 5s\n"
			db.apply(dbSpec)
			web, _ := g.add("web")
			web.apply("  command: sleep 1000\n  startSeconds: 0\n  replicas: 2\n  dependsOn: [{program: db, onLost: " + string(policy) + "}]\n")
			hSpawned(t, db, 1)
			g.clock.Step(time.Second) // db RUNNING
			web.phase("Running", 2)
			first := web.starter.all()

			// db's instance crashes: BACKOFF for 5s.
			db.starter.all()[0].exit(proc.ExitStatus{Code: 1})
			db.waitFor("db in BACKOFF", func(st status.Status) bool { return st.Instances[0].State == "BACKOFF" })
			switch policy {
			case spec.LostIgnore:
				if !waitfor.Never(100*time.Millisecond, func() bool { return len(web.starter.alive()) != 2 || web.sink.count("DependencyLost") != 0 }) {
					t.Fatalf("ignore: web changed: %v", web.sink.reasons())
				}
			case spec.LostStop:
				web.waitFor("web stopped, waiting", func(st status.Status) bool {
					return len(st.Instances) == 2 && st.Instances[0].State == "STOPPED" && st.Instances[1].State == "STOPPED" &&
						st.Instances[0].Message == "waiting for db: 0/1 started"
				})
			case spec.LostRestart:
				if !waitfor.Never(100*time.Millisecond, func() bool { return len(web.starter.alive()) != 2 }) {
					t.Fatal("restart: web stopped while db is lost")
				}
			}
			if policy != spec.LostIgnore {
				ev := lastEvent(web.sink, "DependencyLost")
				if ev.Type != status.EventWarning || !strings.HasPrefix(ev.Message, "db is no longer Started (0/1 started): ") ||
					!strings.Contains(ev.Message, "2 instances") || !strings.HasSuffix(ev.Message, "(onLost: "+string(policy)+")") {
					t.Errorf("DependencyLost %+v", ev)
				}
			}

			// db comes back.
			g.clock.Step(5 * time.Second)
			hSpawned(t, db, 2)
			g.clock.Step(time.Second)
			db.phase("Running", 1)
			switch policy {
			case spec.LostIgnore:
				web.phase("Running", 2)
				if n := len(web.starter.all()); n != 2 {
					t.Errorf("ignore: web started %d processes", n)
				}
			case spec.LostStop, spec.LostRestart:
				hSpawned(t, web, 4)
				web.phase("Running", 2)
				for _, p := range first {
					if len(p.sent()) == 0 || p.sent()[0] != syscall.SIGTERM {
						t.Errorf("%s: first process got %v, want TERM", policy, p.sent())
					}
				}
			}

			// desired: stopped, then running again.
			n := len(web.starter.all())
			db.apply(dbSpec + "  desired: stopped\n")
			db.phase("Stopped", 0)
			if policy == spec.LostStop {
				web.waitFor("web stopped", func(st status.Status) bool {
					return st.Instances[0].State == "STOPPED" && st.Instances[0].Message == "waiting for db: stopped"
				})
			} else if len(web.starter.alive()) != 2 {
				t.Errorf("%s: web stopped with db", policy)
			}
			db.apply(dbSpec)
			hSpawned(t, db, 3)
			g.clock.Step(time.Second)
			if policy == spec.LostIgnore {
				if !waitfor.Never(100*time.Millisecond, func() bool { return len(web.starter.all()) != n }) {
					t.Error("ignore: web restarted")
				}
				return
			}
			hSpawned(t, web, n+2)
			web.phase("Running", 2)
		})
	}
}

// hSpawned waits until h has started n processes in all, the last of them
// running (its startSeconds timer armed).
func hSpawned(t *testing.T, h *harness, n int) {
	t.Helper()
	waitfor.Condition(t, waitTimeout, func() bool {
		all := h.starter.all()
		if len(all) != n {
			return false
		}
		st := h.sink.status().Status
		for _, in := range st.Instances {
			if in.Pid == all[n-1].pid {
				return true
			}
		}
		return false
	}, "%s: %d processes", h.name, n)
}

func lastEvent(s *fakeSink, reason string) status.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.events) - 1; i >= 0; i-- {
		if s.events[i].Reason == reason {
			return s.events[i]
		}
	}
	return status.Event{}
}
