package reconciler

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// exitCode is the daemon's exit code for an instance's exit, as a shell
// reports it.
func TestExitCode(t *testing.T) {
	cases := []struct {
		code   int
		signal string
		exit   int
	}{
		{0, "", 0}, {3, "", 3}, {127, "", 127}, {-1, "", 1}, {300, "", 1},
		{-1, "KILL", 137}, {-1, "TERM", 143}, {-1, "INT", 130}, {-1, "40", 168},
	}
	for _, c := range cases {
		if got := exitCode(c.code, c.signal); got != c.exit {
			t.Errorf("exitCode(%d, %q) = %d, want %d", c.code, c.signal, got, c.exit)
		}
	}
}

type recordSink struct{ events, updates, deletes int }

func (s *recordSink) Update(status.ProgramStatus) { s.updates++ }
func (s *recordSink) Event(status.Event)          { s.events++ }
func (s *recordSink) Delete(string)               { s.deletes++ }

type watcherTest struct {
	*exitWatcher
	inner    *recordSink
	causes   []error
	programs []string
}

func newWatcherTest(policy ExitPolicy, programs ...string) *watcherTest {
	w := &watcherTest{inner: &recordSink{}, programs: programs}
	w.exitWatcher = newExitWatcher(w.inner, policy, func() ([]string, error) { return w.programs, nil },
		func(err error) { w.causes = append(w.causes, err) }, logr.Discard())
	return w
}

// exitEvent is an Exited event as a program records it: the exit typed,
// and a message that the exit policy does not read.
func exitEvent(instance string, code int, signal string) status.Event {
	return status.Event{Time: time.Now(), Reason: "Exited", Instance: instance,
		Message: "not read: " + describeExit(code, signal), Exit: &status.Exit{Code: code, Signal: signal}}
}

func programStatus(name string, instances ...status.Instance) status.ProgramStatus {
	return status.ProgramStatus{Metadata: status.Metadata{Name: name}, Status: status.Status{
		Instances:  instances,
		Conditions: []status.Condition{{Type: status.ConditionSpecValid, Status: status.ConditionTrue}},
	}}
}

func inst(state State, exit *status.Exit) status.Instance {
	return status.Instance{State: string(state), LastExit: exit}
}

func TestExitWatcherFailure(t *testing.T) {
	w := newWatcherTest(ExitOnFailure, "a", "b")
	w.Event(status.Event{Reason: "Started", Instance: "a-0"})
	w.Update(programStatus("a", inst(Running, nil)))
	if len(w.causes) != 0 {
		t.Fatalf("stopped early: %v", w.causes)
	}
	w.Event(exitEvent("b-1", -1, "KILL"))
	w.Event(exitEvent("a-0", 1, "")) // the first one counts
	var ec *ExitCodeError
	if len(w.causes) != 1 || !errors.As(w.causes[0], &ec) || ec.Code != 137 || ec.Instance != "b-1" {
		t.Fatalf("causes = %v, want one: b-1 with 137", w.causes)
	}
	if w.inner.events != 3 || w.inner.updates != 1 {
		t.Errorf("the inner sink missed something: %+v", w.inner)
	}
}

func TestExitWatcherAllSucceeded(t *testing.T) {
	ok := &status.Exit{Code: 0}
	w := newWatcherTest(ExitAllSucceeded, "a", "b")
	w.Event(exitEvent("a-0", 0, ""))
	w.Update(programStatus("a", inst(Exited, ok), inst(Exited, ok)))
	if len(w.causes) != 0 {
		t.Fatalf("stopped before b reported: %v", w.causes)
	}
	w.Update(programStatus("b", inst(Running, nil)))
	w.Update(programStatus("b", inst(Exited, ok)))
	if len(w.causes) != 1 || !errors.Is(w.causes[0], errAllSucceeded) {
		t.Fatalf("causes = %v, want all succeeded", w.causes)
	}

	// A program deleted meanwhile no longer counts; nothing run is no success.
	w = newWatcherTest(ExitAllSucceeded, "a")
	w.Update(programStatus("a"))
	if len(w.causes) != 0 {
		t.Fatalf("success with nothing run: %v", w.causes)
	}
	w.programs = []string{"a", "gone"}
	w.Update(programStatus("gone", inst(Running, nil)))
	w.Update(programStatus("a", inst(Exited, ok)))
	w.programs = []string{"a"}
	w.Delete("gone")
	if len(w.causes) != 1 || !errors.Is(w.causes[0], errAllSucceeded) {
		t.Fatalf("causes = %v, want all succeeded after the delete", w.causes)
	}

	// A failure stops at once, with its code.
	w = newWatcherTest(ExitAllSucceeded, "a")
	w.Event(exitEvent("a-2", 4, ""))
	var ec *ExitCodeError
	if len(w.causes) != 1 || !errors.As(w.causes[0], &ec) || ec.Code != 4 || ec.Instance != "a-2" {
		t.Fatalf("causes = %v, want a-2 with 4", w.causes)
	}
}

func TestExitWatcherInvalidManifest(t *testing.T) {
	w := newWatcherTest(ExitOnFailure, "a")
	st := programStatus("a")
	st.Status.Conditions = []status.Condition{{Type: status.ConditionSpecValid, Status: status.ConditionFalse, Message: "a.yaml:2:3: spec.comand: unknown field"}}
	w.Update(st)
	var ec *ExitCodeError
	if len(w.causes) != 1 || !errors.As(w.causes[0], &ec) || ec.Code != 1 {
		t.Fatalf("causes = %v, want code 1", w.causes)
	}
	// An invalid edit while the last valid spec's instances run is no end.
	w = newWatcherTest(ExitOnFailure, "a")
	st.Status.Instances = []status.Instance{inst(Running, nil)}
	w.Update(st)
	if len(w.causes) != 0 {
		t.Fatalf("stopped on an invalid edit: %v", w.causes)
	}
}

func TestExitPolicyAdmit(t *testing.T) {
	p := &spec.Program{Spec: spec.ProgramSpec{RestartPolicy: spec.RestartAlways}}
	pass := func(p *spec.Program) (*spec.Program, error) { return p, nil }
	got, err := exitPolicyAdmit(pass)(p)
	if err != nil || got.Spec.RestartPolicy != spec.RestartNever {
		t.Errorf("admitted: %v, %v", got, err)
	}
	if p.Spec.RestartPolicy != spec.RestartAlways {
		t.Errorf("the parsed spec was changed: policy %s", p.Spec.RestartPolicy)
	}
	bad := errors.New("no")
	if _, err := exitPolicyAdmit(func(*spec.Program) (*spec.Program, error) { return nil, bad })(p); err != bad {
		t.Errorf("the inner admission's error was lost: %v", err)
	}
	for _, s := range []string{"", "never", "failure", "all-succeeded"} {
		if _, err := ParseExitPolicy(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	if _, err := ParseExitPolicy("always"); err == nil {
		t.Error("always accepted")
	}
}

func TestProgramFilter(t *testing.T) {
	if f, err := programFilter(nil, nil); f != nil || err != nil {
		t.Errorf("no flags: filter %v, %v", f != nil, err)
	}
	f, err := programFilter([]string{"web", "worker"}, []string{"worker"})
	if err != nil {
		t.Fatal(err)
	}
	if !f("web") || f("worker") || f("db") {
		t.Error("--only web,worker --exclude worker")
	}
	f, _ = programFilter(nil, []string{"db"})
	if !f("web") || f("db") {
		t.Error("--exclude db")
	}
	if _, err := programFilter([]string{"Web"}, nil); err == nil {
		t.Error("a bad name accepted")
	}

	dir := t.TempDir()
	for _, n := range []string{"web.yaml", "db.yml", "web.status.yaml", ".hidden.yaml", "Bad.yaml", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names, err := listPrograms(dir, f)
	if err != nil || !slices.Equal(names, []string{"web"}) {
		t.Errorf("listPrograms = %v, %v", names, err)
	}
}
