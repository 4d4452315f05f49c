package hooks

import (
	"slices"
	"testing"
)

// SetHooks changes what later events run; Fire of a reason no hook lists
// starts nothing.
func TestSetHooks(t *testing.T) {
	r, _ := newRunner(t, nil, Hook{Events: []string{"Fatal"}, Exec: &ExecAction{Command: []string{"true"}}})
	r.SetHooks([]Hook{{Events: []string{"Exited"}, Exec: &ExecAction{Command: []string{"true"}}}})
	r.Fire(event("Fatal", "web-0", "gave up"), instanceCtx(""))
	r.mu.Lock()
	peak := r.peak
	indices := r.byReason["Exited"]
	r.mu.Unlock()
	if peak != 0 || !slices.Equal(indices, []int{0}) {
		t.Errorf("a Fatal event started %d hooks and Exited runs hooks %v; want 0 and [0]", peak, indices)
	}
}

func TestHookEnv(t *testing.T) {
	ev := event("Started", "web-0", "started")
	env := hookEnv(ev, InstanceContext{Env: []string{"A=1", "RECONCILED_PID=9", "RECONCILED_EVENT_TYPE=x"}})
	want := []string{
		"A=1",
		"RECONCILED_EVENT_REASON=Started", "RECONCILED_EVENT_TYPE=Normal", "RECONCILED_EVENT_MESSAGE=started",
		"RECONCILED_EVENT_TIME=2026-11-22T10:00:01.123Z", "RECONCILED_PID=", "RECONCILED_EXIT_CODE=", "RECONCILED_EXIT_SIGNAL=",
	}
	if !slices.Equal(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
}

func TestTrim(t *testing.T) {
	cases := []struct {
		name       string
		b          string
		cut, front bool
		want       string
	}{
		{"whole", "  done\n", false, true, "done"},
		{"tail cut in a rune", "\xa9t\u00e9 fin\n", true, true, "…t\u00e9 fin"},
		{"head cut in a rune", "d\u00e9but \xc3", true, false, "d\u00e9but…"},
		{"head cut in a 3-byte rune", "ab\xe2\x82", true, false, "ab…"},
		{"invalid inside", "a\xffb", false, true, "a\uFFFDb"},
		{"only space, cut", "   ", true, true, ""},
	}
	for _, c := range cases {
		var got string
		if c.front {
			got = trimTail([]byte(c.b), c.cut)
		} else {
			got = trimHead([]byte(c.b), c.cut)
		}
		if got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
