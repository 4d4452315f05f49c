package reconciler

// dependsOn[].onLost with the real daemon and real processes: the
// dependency is stopped (desired: stopped) and started again, and the
// dependent's processes follow each policy.

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

func TestITOnLost(t *testing.T) {
	d := itStart(t, itOpts{})
	db := d.name("db")
	dbSpec := func(desired string) string { return itSpec(`["sleep", "1000"]`, "desired: "+desired) }
	itWrite(t, d.dir, db, dbSpec("running"))
	itWaitStatus(t, d.dir, db, "db running", itReady(1))

	webs := map[string]string{}
	for _, policy := range []string{"ignore", "stop", "restart"} {
		web := d.name("web-" + policy)
		webs[policy] = web
		itWrite(t, d.dir, web, itSpec(`["sleep", "1000"]`, "replicas: 2", "dependsOn: [{program: "+db+", onLost: "+policy+"}]"))
	}
	before := map[string]map[int]int{}
	for policy, web := range webs {
		before[policy] = itPids(itWaitStatus(t, d.dir, web, "web running", itOrFatal(t, itReady(2))))
	}

	// db stopped.
	itWrite(t, d.dir, db, dbSpec("stopped"))
	itWaitStatus(t, d.dir, db, "db stopped", func(st status.ProgramStatus) bool { return st.Status.Phase == "Stopped" })
	itWaitStatus(t, d.dir, webs["stop"], "stop: web stopped, waiting", func(st status.ProgramStatus) bool {
		for _, in := range st.Status.Instances {
			if in.State != string(Stopped) || in.Message != "waiting for "+db+": stopped" {
				return false
			}
		}
		return len(st.Status.Instances) == 2
	})
	for _, pid := range before["stop"] {
		if itAlive(pid) {
			t.Errorf("stop: pid %d still runs", pid)
		}
	}
	evs := itWaitEvents(t, d.dir, webs["stop"], "DependencyLost", itHasReason("DependencyLost", ""))
	for _, ev := range evs {
		if ev.Reason == "DependencyLost" && (ev.Type != status.EventWarning ||
			ev.Message != db+" is no longer Started (stopped): stopping 2 instances until it is Started again (onLost: stop)") {
			t.Errorf("stop: DependencyLost %+v", ev)
		}
	}
	itWaitEvents(t, d.dir, webs["restart"], "DependencyLost", itHasReason("DependencyLost", ""))
	// ignore and restart keep running while db is stopped.
	if !waitfor.Never(300*time.Millisecond, func() bool {
		for _, policy := range []string{"ignore", "restart"} {
			st, err := status.ReadFile(status.StatusPath(d.dir, webs[policy]))
			if err != nil || !maps.Equal(itPids(st), before[policy]) {
				return true
			}
		}
		return false
	}) {
		t.Error("ignore or restart changed instances while db is stopped")
	}
	if n := itCount(itEvents(t, d.dir, webs["ignore"]), "DependencyLost", ""); n != 0 {
		t.Errorf("ignore: %d DependencyLost events", n)
	}

	// db started again.
	itWrite(t, d.dir, db, dbSpec("running"))
	itWaitStatus(t, d.dir, db, "db running again", itReady(1))
	for _, policy := range []string{"stop", "restart"} {
		itWaitStatus(t, d.dir, webs[policy], policy+": web running again", itOrFatal(t, func(st status.ProgramStatus) bool {
			if !itReady(2)(st) {
				return false
			}
			for idx, pid := range itPids(st) {
				if before[policy][idx] == pid {
					return false
				}
			}
			return true
		}))
		for _, pid := range before[policy] {
			if itAlive(pid) {
				t.Errorf("%s: old pid %d still runs", policy, pid)
			}
		}
		if policy == "restart" {
			var stopping int
			for _, ev := range itEvents(t, d.dir, webs[policy]) {
				if ev.Reason == "Stopping" && strings.HasPrefix(ev.Message, "dependency back (onLost: restart)") {
					stopping++
				}
			}
			if stopping != 2 {
				t.Errorf("restart: %d Stopping events of the restart, want 2", stopping)
			}
		}
	}
	st := itWaitStatus(t, d.dir, webs["ignore"], "ignore: web running", itReady(2))
	if !maps.Equal(itPids(st), before["ignore"]) {
		t.Errorf("ignore: instances changed: %v -> %v", before["ignore"], itPids(st))
	}
}
