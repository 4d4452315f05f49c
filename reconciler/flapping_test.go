package reconciler

import (
	"testing"
	"time"

	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

func flapCondition(st status.Status) status.Condition {
	for _, c := range st.Conditions {
		if c.Type == ConditionFlapping {
			return c
		}
	}
	return status.Condition{}
}

// Three restarts within the window: Flapping; a window without restarts:
// Stable.
func TestFlapping(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  restartDelay: 0s\n  startSeconds: 0s\n  flapping: {restarts: 3, window: 10s}\n")
	for i := 1; i <= 3; i++ {
		h.started(1)
		if flapCondition(h.sink.status().Status).Status == status.ConditionTrue {
			t.Fatalf("flapping after %d restarts", i-1)
		}
		h.starter.alive()[0].exit(proc.ExitStatus{Code: 1})
		h.waitFor("a restart", func(st status.Status) bool { return len(st.Instances) == 1 && st.Instances[0].Restarts == i })
	}
	st := h.waitFor("Flapping", func(st status.Status) bool { return flapCondition(st).Status == status.ConditionTrue })
	if h.sink.count("Flapping") != 1 {
		t.Errorf("Flapping events: %v", h.sink.reasons())
	}
	if msg := flapCondition(st).Message; msg != "web-0 restarted 3 times within 10s" {
		t.Errorf("message %q", msg)
	}
	h.clock.Step(9 * time.Second)
	h.clock.Step(2 * time.Second)
	h.waitFor("Stable", func(st status.Status) bool { return flapCondition(st).Status == status.ConditionFalse })
	if h.sink.count("Stable") != 1 {
		t.Errorf("Stable events: %v", h.sink.reasons())
	}
}

// restarts: 0 turns detection off.
func TestFlappingOff(t *testing.T) {
	h := newHarness(t)
	h.apply("  command: sleep 1000\n  restartDelay: 0s\n  startSeconds: 0s\n  flapping: {restarts: 0}\n")
	for i := 1; i <= 6; i++ {
		h.started(1)
		h.starter.alive()[0].exit(proc.ExitStatus{Code: 1})
		h.waitFor("a restart", func(st status.Status) bool { return len(st.Instances) == 1 && st.Instances[0].Restarts == i })
	}
	if h.sink.count("Flapping") != 0 {
		t.Errorf("Flapping with detection off: %v", h.sink.reasons())
	}
}
