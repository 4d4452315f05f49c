package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

func TestDependsOnReadyWaitsAndStarts(t *testing.T) {
	g := newDaemonHarness(t)
	clock := g.clock
	web, _ := g.add("web")
	web.apply("  command: sleep 1000\n  startSeconds: 0\n  dependsOn: [{program: db, condition: Ready}]\n")
	waitingFor := func(msg string) {
		t.Helper()
		st := web.waitFor(msg, func(st status.Status) bool {
			return len(st.Instances) == 1 && st.Instances[0].State == "STOPPED" && st.Instances[0].Message == msg
		})
		c := itCondition(status.ProgramStatus{Status: st}, status.ConditionProgressing)
		if st.Phase != "Progressing" || c.Reason != "WaitingForDependencies" || c.Message != msg {
			t.Errorf("phase %s, Progressing %+v", st.Phase, c)
		}
		if n := len(web.starter.all()); n != 0 {
			t.Fatalf("web started %d processes while %s", n, msg)
		}
	}
	waitingFor("waiting for db: not found") // a missing dependency is waited for

	db, probes := g.add("db")
	probes.initial["sleep 1000"] = false
	db.apply("  command: sleep 1000\n  replicas: 2\n" + readiness)
	waitingFor("waiting for db: 0/2 ready")

	waitfor.Condition(t, waitTimeout, func() bool { return probes.count() == 2 }, "db probes")
	probes.last(0, false).set(true, "")
	clock.Step(time.Second)
	waitingFor("waiting for db: 1/2 ready")
	if web.sink.count("Started") != 0 {
		t.Fatal("web started early")
	}
	probes.last(1, false).set(true, "")
	clock.Step(time.Second)
	web.phase("Running", 1)

	// Documented: a dependency that goes away does not stop its dependents.
	db.apply("  command: sleep 1000\n  replicas: 2\n  desired: stopped\n" + readiness)
	db.phase("Stopped", 0)
	if st := web.sink.status().Status; st.Phase != "Running" || len(web.starter.alive()) != 1 {
		t.Errorf("web after db stopped: %s, %d alive", st.Phase, len(web.starter.alive()))
	}
	// ... but a new instance of web waits again.
	web.apply("  command: sleep 1000\n  startSeconds: 0\n  replicas: 2\n  dependsOn: [{program: db, condition: Ready}]\n")
	web.waitFor("web-1 waiting", func(st status.Status) bool {
		return len(st.Instances) == 2 && st.Instances[1].Message == "waiting for db: stopped"
	})
}

func TestDependsOnStartedAndCompleted(t *testing.T) {
	g := newDaemonHarness(t)
	clock := g.clock
	app, _ := g.add("app")
	app.apply("  command: sleep 1000\n  dependsOn: [{program: cache, condition: Started}, {program: migrate, condition: Completed}]\n")
	app.waitFor("waiting for both", func(st status.Status) bool {
		return len(st.Instances) == 1 && st.Instances[0].Message == "waiting for cache: not found, migrate: not found"
	})

	cache, _ := g.add("cache")
	cache.apply("  command: sleep 1000\n  startSeconds: 1s\n")
	migrate, _ := g.add("migrate")
	migrate.apply("  command: ./migrate\n  restartPolicy: Never\n  startSeconds: 1s\n")
	app.waitFor("cache starting, migrate running", func(st status.Status) bool {
		return len(st.Instances) == 1 && st.Instances[0].Message == "waiting for cache: 0/1 started, migrate: 0/1 completed"
	})
	// cache reports 0/1 started as soon as it decides to spawn, before its
	// process exists: wait for the pids, so that the startSeconds timers are
	// armed before the clock steps over them.
	cache.started(1)
	migrate.started(1)
	clock.Step(time.Second) // cache is RUNNING: Started is met
	app.waitFor("migrate still running", func(st status.Status) bool {
		return st.Instances[0].Message == "waiting for migrate: 0/1 completed"
	})
	migrate.started(1)
	migrate.starter.all()[0].exit(proc.ExitStatus{Code: 0})
	migrate.waitFor("migrate completed", func(st status.Status) bool {
		return len(st.Instances) == 1 && st.Instances[0].State == "EXITED"
	})
	app.started(1)
}

func TestShutdownStopsDependentsFirst(t *testing.T) {
	g := newDaemonHarness(t)
	clock := g.clock
	db, _ := g.add("db")
	db.apply("  command: sleep 1000\n  startSeconds: 0\n")
	web, _ := g.add("web")
	web.starter.onStart = func(p *fakeProcess) { p.diesOn[syscall.SIGTERM] = false } // ends at SIGKILL
	web.apply("  command: sleep 1000\n  startSeconds: 0\n  stopTimeout: 5s\n  dependsOn: [{program: db}]\n")
	web.phase("Running", 1)
	dbProc, webProc := db.starter.all()[0], web.starter.all()[0]

	for _, h := range []*harness{db, web} {
		d := h.last
		d.shutdown = true
		h.p.set(d)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return len(webProc.sent()) == 1 }, "web stopping")
	web.waitFor("web STOPPING", func(st status.Status) bool { return st.Instances[0].State == "STOPPING" })
	if got := dbProc.sent(); len(got) != 0 {
		t.Fatalf("db was signalled %v while web still runs", got)
	}
	clock.Step(5 * time.Second) // web's stopTimeout: SIGKILL
	waitfor.Condition(t, waitTimeout, func() bool { return len(dbProc.sent()) == 1 }, "db stopping after web")
	<-web.p.done
	<-db.p.done
}

// A dependency held back at shutdown for its dependents does not start a
// crashed instance again, even with restartDelay 0.
func TestShutdownHoldStartsNothing(t *testing.T) {
	g := newDaemonHarness(t)
	db, _ := g.add("db")
	db.apply("  command: sleep 1000\n  startSeconds: 0\n  restartDelay: 0s\n")
	web, _ := g.add("web")
	web.starter.onStart = func(p *fakeProcess) { p.diesOn[syscall.SIGTERM] = false }
	web.apply("  command: sleep 1000\n  startSeconds: 0\n  stopTimeout: 5s\n  dependsOn: [{program: db}]\n")
	web.phase("Running", 1)
	for _, h := range []*harness{db, web} {
		d := h.last
		d.shutdown = true
		h.p.set(d)
	}
	web.waitFor("web STOPPING", func(st status.Status) bool { return st.Instances[0].State == "STOPPING" })
	// The crash must come after db has taken the shutdown, else it is an
	// exit before it (and restarted).
	db.waitFor("db held at shutdown", func(st status.Status) bool {
		return st.Desired == "stopped" && len(st.Instances) == 1 && st.Instances[0].State == "RUNNING"
	})
	db.starter.all()[0].exit(proc.ExitStatus{Code: 1})
	db.waitFor("db EXITED", func(st status.Status) bool { return len(st.Instances) == 1 && st.Instances[0].State == "EXITED" })
	if n := len(db.starter.all()); n != 1 {
		t.Errorf("db started %d processes during shutdown", n)
	}
}

// A program nobody depends on any more drops its counts: a dependent added
// later waits for fresh ones ("pending") instead of trusting the old.
func TestDepGraphDropsCountsOfUnlinked(t *testing.T) {
	g := newDepGraph()
	g.join("db", make(chan struct{}, 1))
	dep := []spec.Dependency{{Program: "db", Condition: spec.DependencyStarted}}
	g.setNeeds("a", dep)
	if !g.linked("db") {
		t.Fatal("db is needed by a")
	}
	g.report("db", depState{want: 1, started: 1, alive: 1})
	if why := g.unmet(dep); why != "" {
		t.Fatalf("unmet %q", why)
	}
	g.setNeeds("a", nil)
	if g.linked("db") {
		t.Fatal("db is needed by nobody")
	}
	// db stops now, unlinked, and reports nothing; c comes.
	g.setNeeds("c", dep)
	if why := g.unmet(dep); why != "waiting for db: pending" {
		t.Errorf("unmet %q, want pending until db reports again", why)
	}
	g.report("db", depState{})
	if why := g.unmet(dep); why != "waiting for db: stopped" {
		t.Errorf("unmet %q", why)
	}
}

// A program whose new spec closes a cycle through another program's last
// valid spec is rejected too, so the specs that run never form a cycle and
// shutdown (dependents first) ends.
func TestCycleThroughLastValidSpec(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte("spec:\n  command: sleep 1000\n  startSeconds: 0\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("w", "  dependsOn: [{program: q}]\n")
	write("q", "")
	write("z", "")
	trig := make(chan struct{}, 1)
	sink := &multiSink{st: map[string]status.ProgramStatus{}}
	r := New(Options{Dir: dir, Trigger: trig, Starter: &fakeStarter{}, Sink: sink, Log: testr.New(t)})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for _, n := range []string{"w", "q", "z"} {
		waitfor.Condition(t, waitTimeout, func() bool { return sink.get(n).Status.Phase == "Running" }, "%s running", n)
	}
	invalid := func(name, cycle string) {
		t.Helper()
		waitfor.Condition(t, waitTimeout, func() bool {
			c := findCondition(sink.get(name).Status.Conditions, status.ConditionSpecValid)
			return c != nil && c.Status == status.ConditionFalse && strings.HasSuffix(c.Message, "dependency cycle: "+cycle)
		}, "%s invalid", name)
	}
	write("w", "  dependsOn: [{program: z}]\n")
	write("z", "  dependsOn: [{program: w}]\n")
	trig <- struct{}{}
	invalid("w", "w -> z -> w")
	invalid("z", "z -> w -> z")
	// w still runs its last valid spec (w -> q): q -> w closes that cycle.
	write("q", "  dependsOn: [{program: w}]\n")
	trig <- struct{}{}
	invalid("q", "q -> w -> q")
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("shutdown did not end")
	}
}

// multiSink keeps the last status of every program.
type multiSink struct {
	mu sync.Mutex
	st map[string]status.ProgramStatus
}

func (m *multiSink) Update(s status.ProgramStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st[s.Metadata.Name] = s
}
func (m *multiSink) Event(status.Event) {}
func (m *multiSink) Delete(string)      {}

func (m *multiSink) get(name string) status.ProgramStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st[name]
}
