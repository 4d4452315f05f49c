package reconciler

import (
	"fmt"
	"strings"
	"testing"
)

// TestPlan calls the planner directly: instances as (index, spec, live,
// ready), the targets it picks as "new", "old" or "-" (none).
func TestPlan(t *testing.T) {
	oldProg, oldHash := lifeSpec(t, "")
	rolling, newHash := lifeSpec(t, "  env: {V: \"2\"}\n  updateStrategy: {type: RollingUpdate, maxUnavailable: 1}\n")
	two, twoHash := lifeSpec(t, "  env: {V: \"2\"}\n  updateStrategy: {type: RollingUpdate, maxUnavailable: 2}\n")
	recreate, recHash := lifeSpec(t, "  env: {V: \"2\"}\n  updateStrategy: {type: Recreate}\n")
	// inst: o = old spec, n = new spec; R ready, L live not ready, D dead.
	inst := func(idx int, s string, newH string) planned {
		p := planned{idx: idx, hash: oldHash, spec: oldProg}
		if s[0] == 'n' {
			p.hash = newH
		}
		p.live = s[1] != 'D'
		p.ready = s[1] == 'R'
		return p
	}
	cases := []struct {
		name      string
		strategy  string // rolling, two, recreate
		instances string // space-separated codes by index
		want      int
		targets   string
	}{
		{"scale up from nothing", "rolling", "oD oD oD", 3, "new new new"},
		{"scale down stops the excess", "rolling", "nR nR nR", 1, "new - -"},
		{"nothing wanted", "rolling", "nR nR", 0, "- -"},
		{"rolling replaces one ready at a time", "rolling", "oR oR oR", 3, "new old old"},
		{"an unready old one is replaced, and uses up the budget", "rolling", "oR oL oR", 3, "old new old"},
		{"an old one without a process starts new", "rolling", "oD oR oR", 3, "new old old"},
		{"the next waits until the new one is ready", "rolling", "nL oR oR", 3, "new old old"},
		{"then it goes", "rolling", "nR oR oR", 3, "new new old"},
		{"maxUnavailable 2", "two", "oR oR oR", 3, "new new old"},
		{"recreate stops every old one first", "recreate", "oR oR nR", 3, "- - new"},
		{"recreate starts all once the old are gone", "recreate", "oD oD oD", 3, "new new new"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prog, hash := rolling, newHash
			switch c.strategy {
			case "two":
				prog, hash = two, twoHash
			case "recreate":
				prog, hash = recreate, recHash
			}
			var insts []planned
			for i, code := range strings.Fields(c.instances) {
				insts = append(insts, inst(i, code, hash))
			}
			var got []string
			for i, tg := range plan(insts, c.want, prog, hash) {
				switch {
				case tg.prog == nil:
					got = append(got, "-")
				case tg.hash == hash && tg.prog == prog:
					got = append(got, "new")
				case tg.hash == insts[i].hash && tg.prog == insts[i].spec:
					got = append(got, "old")
				default:
					got = append(got, fmt.Sprintf("?%v", tg))
				}
			}
			if s := strings.Join(got, " "); s != c.targets {
				t.Errorf("targets %q, want %q", s, c.targets)
			}
		})
	}
}
