package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/spec"
)

func TestDecideExit(t *testing.T) {
	base := spec.ProgramSpec{
		RestartPolicy: spec.RestartAlways, SuccessExitCodes: []int{0, 2}, StartSeconds: time.Second,
		StartRetries: 3, RestartDelay: 100 * time.Millisecond, MaxRestartDelay: 350 * time.Millisecond,
	}
	with := func(f func(*spec.ProgramSpec)) *spec.ProgramSpec {
		s := base
		f(&s)
		return &s
	}
	ms := time.Millisecond
	cases := []struct {
		name     string
		spec     *spec.ProgramSpec
		facts    exitFacts
		next     State
		delay    time.Duration
		failures int
	}{
		{"always: early exit is a failed start", &base, exitFacts{code: 1}, Backoff, 100 * ms, 1},
		{"always: second failure doubles", &base, exitFacts{code: 1, failures: 1}, Backoff, 200 * ms, 2},
		{"always: startRetries failures is fatal", &base, exitFacts{code: 1, failures: 2}, Fatal, 0, 3},
		{"always: early exit 0 is a failure too", &base, exitFacts{code: 0, failures: 0}, Backoff, 100 * ms, 1},
		{"always: killed early", &base, exitFacts{code: -1, signal: "KILL"}, Backoff, 100 * ms, 1},
		{"always: delay capped", with(func(s *spec.ProgramSpec) { s.StartRetries = 0 }), exitFacts{code: 1, failures: 5}, Backoff, 350 * ms, 6},
		{"always: 0 retries means forever", with(func(s *spec.ProgramSpec) { s.StartRetries = 0 }), exitFacts{code: 1, failures: 99}, Backoff, 350 * ms, 100},
		{"always: after a good start, restart after restartDelay", &base, exitFacts{code: 1, started: true}, Backoff, 100 * ms, 0},
		{"always: restartDelay 0 restarts at once", with(func(s *spec.ProgramSpec) { s.RestartDelay = 0 }), exitFacts{code: 0, started: true}, Starting, 0, 0},
		{"onfailure: success code ends", with(func(s *spec.ProgramSpec) { s.RestartPolicy = spec.RestartOnFailure }), exitFacts{code: 2, started: true}, Exited, 0, 0},
		{"onfailure: early success is a completion", with(func(s *spec.ProgramSpec) { s.RestartPolicy = spec.RestartOnFailure }), exitFacts{code: 0}, Exited, 0, 0},
		{"onfailure: failure restarts", with(func(s *spec.ProgramSpec) { s.RestartPolicy = spec.RestartOnFailure }), exitFacts{code: 3, started: true}, Backoff, 100 * ms, 0},
		{"onfailure: signal is a failure", with(func(s *spec.ProgramSpec) { s.RestartPolicy = spec.RestartOnFailure }), exitFacts{code: -1, signal: "TERM", started: true}, Backoff, 100 * ms, 0},
		{"never: failure ends", with(func(s *spec.ProgramSpec) { s.RestartPolicy = spec.RestartNever }), exitFacts{code: 1}, Exited, 0, 0},
		{"never: success ends", with(func(s *spec.ProgramSpec) { s.RestartPolicy = spec.RestartNever }), exitFacts{code: 0, started: true}, Exited, 0, 0},
		{"crash loop: the delay doubles after good starts too", &base, exitFacts{code: 1, started: true, crashes: 1}, Backoff, 200 * ms, 0},
		{"crash loop: capped", &base, exitFacts{code: 1, started: true, crashes: 9}, Backoff, 350 * ms, 0},
		{"crash loop: a failed start goes on from the loop's delay", &base, exitFacts{code: 1, crashes: 2}, Backoff, 350 * ms, 1},
		{"crash loop: restartDelay 0 stays 0", with(func(s *spec.ProgramSpec) { s.RestartDelay = 0 }), exitFacts{code: 1, started: true, crashes: 5}, Starting, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decideExit(c.spec, c.facts)
			if d.next != c.next || d.delay != c.delay || d.failures != c.failures {
				t.Errorf("got %s after %v with %d failures (%q), want %s after %v with %d", d.next, d.delay, d.failures, d.message, c.next, c.delay, c.failures)
			}
			if d.message == "" {
				t.Error("empty message")
			}
			if restarts := d.next == Backoff || d.next == Starting; restarts && d.crashes != c.facts.crashes+1 {
				t.Errorf("crashes %d after %d, want one more", d.crashes, c.facts.crashes)
			}
			// supervisorctl's words, where a supervisord user looks for them.
			if fatal := "Exited too quickly (process log may have details): "; d.next == Fatal && !strings.HasPrefix(d.message, fatal) {
				t.Errorf("FATAL message %q does not start with %q", d.message, fatal)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	for failures, want := range []time.Duration{100, 100, 200, 400, 800, 1000, 1000} {
		if got := backoffDelay(100, 1000, failures); got != want {
			t.Errorf("failures %d: %v, want %v", failures, got, want)
		}
	}
}

func TestPhaseTable(t *testing.T) {
	if allowed(phStopped, phRunning) {
		t.Error("stopped -> running must be illegal")
	}
	if !allowed(phRunning, phStopping) {
		t.Error("running -> stopping must be allowed")
	}
	for from, tos := range moves {
		for _, to := range tos {
			if _, ok := moves[to]; !ok {
				t.Errorf("%s -> %s: %s has no moves out", from, to, to)
			}
		}
	}
}
