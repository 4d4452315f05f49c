package hooks

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

// testStarter is the one proc.Starter of the test binary (one per process:
// two reapers would reap each other's leaders). Its reaper runs for all
// tests and reaps what hooks leave behind (the test binary is a subreaper,
// as the daemon is).
var testStarter *proc.Starter

func TestMain(m *testing.M) {
	proc.MaybeRunShim()
	if err := proc.BecomeSubreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testStarter = proc.NewStarter(logr.Discard())
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		testStarter.Run(ctx)
		close(stopped)
	}()
	code := m.Run()
	cancel()
	<-stopped
	os.Exit(code)
}

// waitTimeout bounds every wait of these tests for an outcome. It is
// generous, for a loaded machine under -race: a passing test never waits
// that long.
const waitTimeout = 20 * time.Second

// testPath is the PATH hooks get.
var testPath = "PATH=" + os.Getenv("PATH")

// recorder keeps the events a Runner emits.
type recorder struct {
	mu  sync.Mutex
	evs []status.Event
}

func (r *recorder) emit(ev status.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// events returns the events of reason emitted so far.
func (r *recorder) events(reason string) []status.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []status.Event
	for _, ev := range r.evs {
		if ev.Reason == reason {
			out = append(out, ev)
		}
	}
	return out
}

// waitEvents waits for n events of reason and returns them.
func (r *recorder) waitEvents(t *testing.T, reason string, n int) []status.Event {
	t.Helper()
	waitfor.Condition(t, waitTimeout, func() bool { return len(r.events(reason)) >= n }, "%d %s events (have %v)", n, reason, r.all())
	return r.events(reason)
}

func (r *recorder) all() []status.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]status.Event(nil), r.evs...)
}

// newRunner returns a Runner of program "web" with hooks, the test's
// Starter and clk (nil: the wall clock), whose events go to the returned
// recorder. It is closed at cleanup, at the latest.
func newRunner(t *testing.T, clk clock.Clock, hooks ...Hook) (*Runner, *recorder) {
	t.Helper()
	rec := &recorder{}
	r := New(t.Context(), Options{Program: "web", Hooks: hooks, Starter: testStarter, Emit: rec.emit, Clock: clk})
	t.Cleanup(func() { closeRunner(t, r) })
	return r, rec
}

// closeRunner closes r, killing what still runs after a moment; a second
// Close does nothing.
func closeRunner(t *testing.T, r *Runner) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		_ = r.Close(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Errorf("Close did not return within %v", waitTimeout)
	}
}

// instanceCtx is the context of instance web-0: env on top of PATH.
func instanceCtx(dir string, env ...string) InstanceContext {
	return InstanceContext{Env: append([]string{testPath}, env...), Dir: dir}
}

// event returns an event of program web about instance.
func event(reason, instance, message string) status.Event {
	typ := status.EventNormal
	if reason != "Started" && reason != "Stopped" {
		typ = status.EventWarning
	}
	return status.Event{Time: time.Date(2026, 11, 22, 10, 0, 1, 123e6, time.UTC), Type: typ, Reason: reason, Program: "web", Instance: instance, Message: message}
}

// readLines returns the lines of path; a missing file has none.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
