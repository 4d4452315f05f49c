package proc

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
)

func TestFindStale(t *testing.T) {
	r, w := pipe(t)
	// The leader leaves two grandchildren in its group: one with the marks in
	// its environment, one (env -i) without.
	started := time.Now() // what the daemon records: no later than the fork
	p := start(t, Spec{
		Argv:   []string{"sh", "-c", `sleep 1000 & echo $!; env -i sleep 1000 & echo $!`},
		Env:    []string{testPath, "RECONCILED_PROGRAM=web", "RECONCILED_INSTANCE=2", "RECONCILED_REPLICAS=3", "RECONCILED_DIR=/srv/a"},
		Stdout: w,
	})
	lines := readLines(t, r, 2)
	marked, _ := strconv.Atoi(lines[0])
	unmarked, _ := strconv.Atoi(lines[1])
	killLater(t, marked)
	killLater(t, unmarked)
	if st, err := p.Wait(testCtx(t)); err != nil || !st.Success() {
		t.Fatalf("leader: %v, %v", st, err)
	}
	// env -i must have exec'd sleep, or its environ is still sh's.
	waitfor.Condition(t, waitTimeout, func() bool {
		got, err := findStale("web", 2, p.Pid(), started)
		return err == nil && slices.Equal(got, []int{marked})
	}, "env -i execs sleep")
	ticks := startTicksOf(t, marked)

	for _, tt := range []struct {
		name    string
		program string
		index   int
		pgid    int
		started time.Time
		want    []int
	}{
		{"match", "web", 2, p.Pid(), started, []int{marked}},
		{"slack", "web", 2, p.Pid(), started.Add(time.Second), []int{marked}},
		{"other index", "web", 1, p.Pid(), started, nil},
		{"other program", "api", 2, p.Pid(), started, nil},
		{"other group", "web", 2, p.Pid() + 1, started, nil},
		{"started later", "web", 2, p.Pid(), started.Add(time.Hour), nil},
	} {
		got, err := findStale(tt.program, tt.index, tt.pgid, tt.started)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: FindStale = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}

	found, err := FindStaleAll([]StaleQuery{
		{Program: "api", Index: 0, LeaderPid: p.Pid(), StartedAt: started},
		{Program: "web", Index: 2, LeaderPid: p.Pid(), StartedAt: started},
		{Program: "web", Index: 3, LeaderPid: 999999, StartedAt: started},
		{Program: "web", Index: 2, LeaderPid: p.Pid(), StartedAt: started, Marks: []string{"RECONCILED_REPLICAS=4"}},
	})
	if err != nil || len(found) != 1 || found[0] != (StaleProcess{Pid: marked, StartTicks: ticks, Query: 1}) {
		t.Fatalf("FindStaleAll = %+v, %v", found, err)
	}

	found2, err := FindStaleAll([]StaleQuery{{Program: "web", Index: 2, LeaderPid: p.Pid(), StartedAt: started, Marks: []string{"RECONCILED_DIR=/srv/a"}}})
	if err != nil || len(found2) != 1 || found2[0].Pid != marked {
		t.Errorf("FindStaleAll with a matching mark = %+v, %v", found2, err)
	}

	// A recorded start time that does not match is not killed.
	if err := KillStaleProcesses([]StaleProcess{{Pid: marked, StartTicks: ticks + 1}}); err != nil {
		t.Fatal(err)
	}
	if !alive(marked, ticks) {
		t.Fatal("KillStaleProcesses killed a process whose start time differs")
	}
	// KillStale skips a process without the marks.
	uticks := startTicksOf(t, unmarked)
	if err := killStale([]int{unmarked}); err != nil {
		t.Fatal(err)
	}
	if !alive(unmarked, uticks) {
		t.Fatal("KillStale killed a process without the marks")
	}
	if err := KillStaleProcesses(found); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return !alive(marked, ticks) }, "stale process killed")
	if err := killStale([]int{marked}); err != nil {
		t.Errorf("KillStale of a dead process: %v", err)
	}
}

func TestKillStale(t *testing.T) {
	started := time.Now()
	p := start(t, Spec{
		Argv: []string{"sleep", "1000"},
		Env:  []string{testPath, "RECONCILED_PROGRAM=web", "RECONCILED_INSTANCE=0"},
	})
	// The marks show in /proc/PID/environ a moment after Start returns: the
	// vfork parent wakes when the child's new memory replaces the old, before
	// the kernel has put the environment in it (on a loaded machine the
	// child can be descheduled in between, and environ reads empty).
	var pids []int
	var err error
	if !waitfor.Until(waitTimeout, func() bool {
		pids, err = findStale("web", 0, p.Pid(), started)
		return err == nil && slices.Equal(pids, []int{p.Pid()})
	}) {
		t.Fatalf("FindStale = %v, %v; want the leader %d", pids, err, p.Pid())
	}
	if err := killStale(pids); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Wait(testCtx(t)); err != nil || st.Signal != 9 {
		t.Errorf("leader: %v, %v; want signal KILL", st, err)
	}
}
