package reconciler

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// Instance supervision against real processes: restart policies, back-off,
// stop escalation, process groups, the instance's environment and identity.

// itState is the condition "instance idx is in state".
func itState(idx int, state State) func(status.ProgramStatus) bool {
	return func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, idx)
		return ok && in.State == string(state)
	}
}

func TestITRestartAlways(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("always")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "sleep 0.3"]`, "restartPolicy: Always"))
	st := itWaitStatus(t, d.dir, name, "2 restarts", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return ok && in.Restarts >= 2
	})
	in, _ := itInstance(st, 0)
	if in.LastExit == nil || in.LastExit.Code != 0 || in.LastExit.Signal != "" {
		t.Errorf("lastExit = %+v, want code 0", in.LastExit)
	}
	evs := itEvents(t, d.dir, name)
	pids := map[int]bool{}
	for _, ev := range evs {
		if ev.Reason == "Started" {
			pids[ev.Pid] = true
		}
	}
	if len(pids) < 3 {
		t.Errorf("want 3 different pids started, got %v:\n%s", pids, itEventsString(evs))
	}
}

func TestITBackoffThenFatal(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("fatal")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exit 1"]`, "startRetries: 3", "restartDelay: 300ms"))
	st := itWaitStatus(t, d.dir, name, "BACKOFF", itState(0, Backoff))
	in, _ := itInstance(st, 0)
	if in.NextRetryAt == nil || !strings.Contains(in.Message, "exited too quickly") {
		t.Errorf("BACKOFF instance: nextRetryAt %v, message %q", in.NextRetryAt, in.Message)
	}
	st = itWaitStatus(t, d.dir, name, "FATAL", itState(0, Fatal))
	if st.Status.Phase != "Failed" {
		t.Errorf("phase = %s, want Failed", st.Status.Phase)
	}
	in, _ = itInstance(st, 0)
	if in.LastExit == nil || in.LastExit.Code != 1 || in.Message == "" || in.Pid != 0 {
		t.Errorf("FATAL instance: %+v", in)
	}
	evs := itWaitEvents(t, d.dir, name, "Fatal event", itHasReason("Fatal", name+"-0"))
	if b, f := itCount(evs, "BackOff", "*"), itCount(evs, "Fatal", "*"); b != 2 || f != 1 {
		t.Errorf("want 2 BackOff and 1 Fatal, got %d and %d:\n%s", b, f, itEventsString(evs))
	}
	if s := itCount(evs, "Started", "*"); s != 3 {
		t.Errorf("want 3 starts (startRetries 3), got %d", s)
	}
	// FATAL stays FATAL.
	if !waitfor.Never(300*time.Millisecond, func() bool {
		return itCount(itEvents(t, d.dir, name), "Started", "*") != 3
	}) {
		t.Errorf("a FATAL instance was started again")
	}
}

// Editing the spec clears FATAL: a new command.
func TestITEditClearsFatal(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("unfatal")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "exit 1"]`, "startRetries: 2"))
	itWaitStatus(t, d.dir, name, "FATAL", itState(0, Fatal))
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "startRetries: 2"))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	if in, _ := itInstance(st, 0); in.Restarts != 0 {
		t.Errorf("restarts = %d after a new spec, want 0", in.Restarts)
	}
}

// DESIGN.md §3: "an edit of the spec ... clears FATAL", also an edit of a
// field outside the spec hash, such as the startSeconds that made every start
// count as failed.
func TestITEditOutsideHashClearsFatal(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("unfatal2")
	itWrite(t, d.dir, name, itSpec(`["sleep", "0.3"]`, "startSeconds: 2s", "startRetries: 2"))
	itWaitStatus(t, d.dir, name, "FATAL", itState(0, Fatal))
	edited := time.Now()
	itWrite(t, d.dir, name, itSpec(`["sleep", "0.3"]`, "startSeconds: 100ms", "startRetries: 2"))
	if !waitfor.Until(waitTimeout, func() bool {
		for _, ev := range itEvents(t, d.dir, name) {
			if ev.Reason == "Started" && ev.Time.After(edited) {
				return true
			}
		}
		return false
	}) {
		st, _ := status.ReadFile(status.StatusPath(d.dir, name))
		t.Errorf("editing startSeconds of a FATAL program did not start it again; status:\n%s", itDump(st))
	}
}

func TestITOnFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		codes     string // successExitCodes, if set
		restarted bool
	}{
		{"Exit0", 0, "", false},
		{"Exit3", 3, "", true},
		{"Exit3Success", 3, "[0, 3]", false},
		{"Exit0NotSuccess", 0, "[3]", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := itStart(t, itOpts{})
			name := d.name("onfailure")
			fields := []string{"restartPolicy: OnFailure"}
			if tc.codes != "" {
				fields = append(fields, "successExitCodes: "+tc.codes)
			}
			itWrite(t, d.dir, name, itSpec(`["sh", "-c", "sleep 0.2; exit `+strconv.Itoa(tc.code)+`"]`, fields...))
			if tc.restarted {
				st := itWaitStatus(t, d.dir, name, "a restart", func(st status.ProgramStatus) bool {
					in, ok := itInstance(st, 0)
					return ok && in.Restarts >= 1 && in.LastExit != nil
				})
				if in, _ := itInstance(st, 0); in.LastExit.Code != tc.code {
					t.Errorf("lastExit = %+v", in.LastExit)
				}
				return
			}
			st := itWaitStatus(t, d.dir, name, "EXITED", itState(0, Exited))
			in, _ := itInstance(st, 0)
			if in.Restarts != 0 || in.LastExit == nil || in.LastExit.Code != tc.code || in.Pid != 0 {
				t.Errorf("EXITED instance: %+v", in)
			}
			st = itWaitStatus(t, d.dir, name, "Completed", func(st status.ProgramStatus) bool {
				return st.Status.Phase == "Completed" && itCondition(st, status.ConditionComplete).Status == status.ConditionTrue
			})
			if !waitfor.Never(300*time.Millisecond, func() bool {
				return itCount(itEvents(t, d.dir, name), "Started", "*") != 1
			}) {
				t.Errorf("a succeeded instance was restarted")
			}
		})
	}
}

func TestITNever(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("never")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "sleep 0.2; exit 3"]`, "restartPolicy: Never"))
	st := itWaitStatus(t, d.dir, name, "EXITED", itState(0, Exited))
	in, _ := itInstance(st, 0)
	if in.Restarts != 0 || in.LastExit == nil || in.LastExit.Code != 3 {
		t.Errorf("EXITED instance: %+v", in)
	}
	if !waitfor.Never(300*time.Millisecond, func() bool {
		return itCount(itEvents(t, d.dir, name), "Started", "*") != 1
	}) {
		t.Errorf("restartPolicy Never restarted the instance")
	}
}

// A child that ignores the stop signal is SIGKILLed after stopTimeout.
func TestITStopEscalation(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("trap")
	cmd := `["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]`
	itWrite(t, d.dir, name, itSpec(cmd))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	leader := itRef(t, itPids(st)[0])

	itWrite(t, d.dir, name, itSpec(cmd, "desired: stopped"))
	evs := itWaitEvents(t, d.dir, name, "Stopped", itHasReason("Stopped", name+"-0"))
	itWaitGone(t, "the leader", leader)
	if g := itGroup(leader.pid); len(g) > 0 {
		t.Errorf("group members left: %v", g)
	}
	var stopping, killed, stopped time.Time
	for _, ev := range evs {
		switch ev.Reason {
		case "Stopping":
			stopping = ev.Time
		case "Killed":
			killed = ev.Time
			if ev.Type != status.EventWarning || ev.Instance != name+"-0" {
				t.Errorf("Killed event: %+v", ev)
			}
		case "Stopped":
			stopped = ev.Time
		}
	}
	if killed.IsZero() {
		t.Fatalf("no Killed event:\n%s", itEventsString(evs))
	}
	if gap := killed.Sub(stopping); gap < 450*time.Millisecond {
		t.Errorf("SIGKILL %v after the stop signal, want stopTimeout 500ms", gap)
	}
	if stopped.Before(killed) {
		t.Errorf("Stopped before Killed:\n%s", itEventsString(evs))
	}
}

// Stop goes to the whole process group.
func TestITStopKillsGroup(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("group")
	cmd := `["sh", "-c", "sleep 1000 & sleep 1000 & wait"]`
	itWrite(t, d.dir, name, itSpec(cmd))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	members := itWaitGroup(t, itPids(st)[0], 3)

	itWrite(t, d.dir, name, itSpec(cmd, "desired: stopped"))
	itWaitGone(t, "the group", members...)
	itWaitStatus(t, d.dir, name, "stopped", func(st status.ProgramStatus) bool { return st.Status.Phase == "Stopped" })
	if n := itCount(itEvents(t, d.dir, name), "Killed", "*"); n != 0 {
		t.Errorf("the group needed SIGKILL although it obeys TERM")
	}
}

// itWaitMember waits until group pgid has a live member running argv.
func itWaitMember(t *testing.T, pgid int, argv ...string) itProc {
	t.Helper()
	var found itProc
	if !waitfor.Until(waitTimeout, func() bool {
		for _, pid := range itGroup(pgid) {
			if st, ok := itReadStat(pid); ok && slices.Equal(itCmdline(pid), argv) {
				found = itProc{pid, st.start}
				return true
			}
		}
		return false
	}) {
		t.Fatalf("group %d: no %v among %v", pgid, argv, itGroup(pgid))
	}
	return found
}

// itLeaderExitCmd is a shell command that starts `sleep 1000` in the
// background and exits 1 once the test creates the file "exit" in the
// working directory (the manifest directory).
func itLeaderExitCmd(prefix string) string {
	return `["sh", "-c", "` + prefix + `sleep 1000 & while [ ! -e exit ]; do sleep 0.02; done; exit 1"]`
}

func itTouch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// A leader that exits on its own leaves a grandchild: it is cleaned up.
func TestITLeaderExitCleansGroup(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("orphan")
	itWrite(t, d.dir, name, itSpec(itLeaderExitCmd(""), "restartPolicy: Never"))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	gc := itWaitMember(t, itPids(st)[0], "sleep", "1000")
	itTouch(t, filepath.Join(d.dir, "exit"))

	st = itWaitStatus(t, d.dir, name, "EXITED", itState(0, Exited))
	if in, _ := itInstance(st, 0); in.LastExit == nil || in.LastExit.Code != 1 {
		t.Errorf("lastExit = %+v", in.LastExit)
	}
	itWaitGone(t, "the grandchild", gc)
}

// itTrapOrphan starts a program whose leader exits on its own (restartPolicy
// Never) and leaves a grandchild that ignores TERM, and returns the
// grandchild once the leader has exited.
func itTrapOrphan(t *testing.T, d *itDaemon, name string) itProc {
	t.Helper()
	itWrite(t, d.dir, name, itSpec(itLeaderExitCmd("trap '' TERM; "), "restartPolicy: Never", "stopTimeout: 2s"))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	gc := itWaitMember(t, itPids(st)[0], "sleep", "1000")
	itTouch(t, filepath.Join(d.dir, "exit"))
	itWaitStatus(t, d.dir, name, "EXITED", itState(0, Exited))
	if !gc.alive() {
		t.Fatalf("the grandchild died before its stopTimeout: it should ignore TERM")
	}
	return gc
}

// Deleting a program within the stopTimeout of a leader's own exit must
// still end what the leader left in its group (SIGKILL at stopTimeout).
func TestITRetiredGroupKilledOnDelete(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("retiredel")
	gc := itTrapOrphan(t, d, name)
	itRemove(t, d.dir, name)
	itWaitEvents(t, d.dir, name, "Deleted", itHasReason("Deleted", ""))
	if !waitfor.Until(2*time.Second+waitTimeout, func() bool { return !gc.alive() }) {
		t.Errorf("grandchild %d of a deleted program still alive %v after its stopTimeout (2s)", gc.pid, waitTimeout)
	}
}

// The daemon never leaves orphans at shutdown, including what a leader that
// exited on its own left behind.
func TestITRetiredGroupKilledOnShutdown(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("retireshut")
	gc := itTrapOrphan(t, d, name)
	d.Stop()
	if !waitfor.Until(waitTimeout, func() bool { return !gc.alive() }) {
		t.Errorf("grandchild %d still alive %v after RunDaemon returned", gc.pid, waitTimeout)
	}
}

// Shutdown stops every instance of every program, in parallel, and writes
// the final statuses.
//
// Parallel without a stopwatch: each instance of the barrier programs, on
// TERM, writes its name to term.log and exits only once every one of them
// has written; their stopTimeout (1h) never comes. Stopped one after
// another, the first would wait for the others for ever and RunDaemon would
// not return.
func TestITShutdownStopsEverything(t *testing.T) {
	d := itStart(t, itOpts{})
	const barriers, replicas = 3, 2
	barrierCmd := fmt.Sprintf(`["sh", "-c", "trap 'echo $RECONCILED_PROGRAM-$RECONCILED_INSTANCE >> term.log; `+
		`until [ `+"`wc -l < term.log`"+` -ge %d ]; do sleep 0.01; done; exit 0' TERM; while :; do sleep 0.1; done"]`, barriers*replicas)
	var names, barrierNames []string
	var procs []itProc
	for i := range barriers {
		name := d.name("shut" + strconv.Itoa(i))
		names = append(names, name)
		barrierNames = append(barrierNames, name)
		itWrite(t, d.dir, name, itSpec(barrierCmd, "replicas: "+strconv.Itoa(replicas), "stopTimeout: 1h"))
	}
	// One that ignores TERM: killed at its stopTimeout.
	deaf := d.name("shutdeaf")
	names = append(names, deaf)
	itWrite(t, d.dir, deaf, itSpec(`["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]`, "replicas: 2", "stopTimeout: 1s"))
	group := d.name("shutgroup")
	names = append(names, group)
	itWrite(t, d.dir, group, itSpec(`["sh", "-c", "sleep 1000 & sleep 1000 & wait"]`))
	for _, name := range names {
		st := itWaitStatus(t, d.dir, name, "running", func(st status.ProgramStatus) bool {
			return st.Status.Phase == "Running"
		})
		for _, pid := range itPids(st) {
			procs = append(procs, itRef(t, pid))
		}
	}
	procs = append(procs, itWaitGroup(t, procs[len(procs)-1].pid, 3)...)

	err := d.Stop()
	b, _ := os.ReadFile(filepath.Join(d.dir, "term.log"))
	termed := strings.Fields(string(b))
	if err != nil {
		t.Fatalf("%v; the barrier instances that got TERM: %v of %d (instances not stopped in parallel)", err, termed, barriers*replicas)
	}
	var want []string
	for _, name := range barrierNames {
		for i := range replicas {
			want = append(want, name+"-"+strconv.Itoa(i))
		}
	}
	slices.Sort(termed)
	slices.Sort(want)
	if !slices.Equal(termed, want) {
		t.Errorf("the barrier instances that got TERM: %v, want %v", termed, want)
	}
	for _, p := range procs {
		if p.alive() {
			t.Errorf("pid %d alive after RunDaemon returned", p.pid)
		}
	}
	for _, name := range barrierNames {
		if evs := itEvents(t, d.dir, name); itCount(evs, "Killed", "*") != 0 {
			t.Errorf("%s: an instance was SIGKILLed although it exits on TERM:\n%s", name, itEventsString(evs))
		}
	}
	for _, name := range names {
		st, err := status.ReadFile(status.StatusPath(d.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Status.Phase != "Stopped" || st.Status.ReadyReplicas != 0 {
			t.Errorf("%s: final status phase %s, %d ready", name, st.Status.Phase, st.Status.ReadyReplicas)
		}
		for _, in := range st.Status.Instances {
			if in.State != string(Stopped) || in.Pid != 0 {
				t.Errorf("%s: final status has %+v", name, in)
			}
		}
	}
}

func TestITEnv(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("env")
	itWrite(t, d.dir, name, itSpec(
		`["sh", "-c", "env > env.$(RECONCILED_INSTANCE).txt; echo '$(BAR) $$(FOO)' > arg.$(RECONCILED_INSTANCE).txt; exec sleep 1000"]`,
		"replicas: 2",
		`env: {FOO: "x$(RECONCILED_INSTANCE)y", BAR: "$(FOO)-z", LIT: "$$(FOO)", UNKNOWN: "$(IT_NOT_SET)", PORT: 8080}`))
	itWaitStatus(t, d.dir, name, "running", itReady(2))
	for i := range 2 {
		n := strconv.Itoa(i)
		var arg []byte
		if !waitfor.Until(waitTimeout, func() bool {
			arg, _ = os.ReadFile(filepath.Join(d.dir, "arg."+n+".txt"))
			return len(arg) > 0
		}) {
			t.Fatalf("instance %d wrote no arg file in the manifest directory", i)
		}
		if got, want := strings.TrimSpace(string(arg)), "x"+n+"y-z $(FOO)"; got != want {
			t.Errorf("instance %d: $(VAR) in command expanded to %q, want %q", i, got, want)
		}
		b, err := os.ReadFile(filepath.Join(d.dir, "env."+n+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				env[k] = v
			}
		}
		want := map[string]string{
			"RECONCILED_PROGRAM": name, "RECONCILED_INSTANCE": n, "RECONCILED_REPLICAS": "2",
			"FOO": "x" + n + "y", "BAR": "x" + n + "y-z", "LIT": "$(FOO)", "UNKNOWN": "$(IT_NOT_SET)", "PORT": "8080",
			"PATH": os.Getenv("PATH"), // the daemon's environment is the base
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("instance %d: %s=%q, want %q", i, k, env[k], v)
			}
		}
	}
}

func TestITWorkingDir(t *testing.T) {
	d := itStart(t, itOpts{})
	if err := os.Mkdir(filepath.Join(d.dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ workingDir, want string }{
		{"", d.dir},
		{"sub", filepath.Join(d.dir, "sub")},
		{"/", "/"},
	} {
		name := d.name("wd")
		var fields []string
		if tc.workingDir != "" {
			fields = append(fields, "workingDir: "+tc.workingDir)
		}
		itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, fields...))
		st := itWaitStatus(t, d.dir, name, "running", itReady(1))
		cwd, err := os.Readlink("/proc/" + strconv.Itoa(itPids(st)[0]) + "/cwd")
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := filepath.EvalSymlinks(tc.want); cwd != want {
			t.Errorf("workingDir %q: cwd %s, want %s", tc.workingDir, cwd, want)
		}
	}
}

// itProcStatus returns the value of field key in /proc/PID/status.
func itProcStatus(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", key, pid)
	return ""
}

// umask and nice go through the exec shim (TestMain calls MaybeRunShim).
func TestITUmaskNice(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("shim")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, `umask: "027"`, "nice: 7"))
	st := itWaitStatus(t, d.dir, name, "running", itReadyCmd(1, "sleep", "1000"))
	pid := itPids(st)[0]
	if got := itProcStatus(t, pid, "Umask"); got != "0027" {
		t.Errorf("umask %s, want 0027", got)
	}
	if s, _ := itReadStat(pid); s.nice != 7 {
		t.Errorf("nice %d, want 7", s.nice)
	}
	if s, _ := itReadStat(pid); s.pgid != pid {
		t.Errorf("pgid %d: the instance does not lead its own group", s.pgid)
	}
}

func TestITUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	d := itStart(t, itOpts{})
	name := d.name("user")
	// workingDir /: nobody cannot enter the test's 0700 temp directory.
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "user: nobody", "workingDir: /"))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	pid := itPids(st)[0]
	if got := strings.Fields(itProcStatus(t, pid, "Uid")); len(got) != 4 || got[0] != u.Uid || got[1] != u.Uid {
		t.Errorf("Uid %v, want %s", got, u.Uid)
	}
	if got := strings.Fields(itProcStatus(t, pid, "Gid")); len(got) != 4 || got[0] != u.Gid {
		t.Errorf("Gid %v, want %s", got, u.Gid)
	}
}

func TestITOutput(t *testing.T) {
	d := itStart(t, itOpts{})
	cmd := `["sh", "-c", "echo out-$RECONCILED_PROGRAM; echo err-$RECONCILED_PROGRAM >&2; exec sleep 1000"]`
	auto, merged, null := d.name("auto"), d.name("merged"), d.name("null")
	itWrite(t, d.dir, auto, itSpec(cmd))
	itWrite(t, d.dir, merged, itSpec(cmd, "stderr: stdout"))
	itWrite(t, d.dir, null, itSpec(cmd, `stdout: "null"`, `stderr: "null"`))
	for _, n := range []string{auto, merged, null} {
		itWaitStatus(t, d.dir, n, "running", itReadyCmd(1, "sleep", "1000"))
	}
	logs := filepath.Join(d.dir, StateDirName, "logs")
	read := func(f string) string { // waits for the output (written before exec sleep)
		var b []byte
		waitfor.Until(waitTimeout, func() bool {
			b, _ = os.ReadFile(filepath.Join(logs, f))
			return strings.Count(string(b), "\n") >= 1 && (!strings.HasPrefix(f, merged) || strings.Count(string(b), "\n") >= 2)
		})
		return string(b)
	}
	if got := read(auto + "-0.stdout.log"); got != "out-"+auto+"\n" {
		t.Errorf("auto stdout log %q", got)
	}
	if got := read(auto + "-0.stderr.log"); got != "err-"+auto+"\n" {
		t.Errorf("auto stderr log %q", got)
	}
	if got := read(merged + "-0.stdout.log"); got != "out-"+merged+"\nerr-"+merged+"\n" {
		t.Errorf("merged stdout log %q", got)
	}
	if _, err := os.Stat(filepath.Join(logs, merged+"-0.stderr.log")); err == nil {
		t.Errorf("stderr: stdout created a stderr log")
	}
	ents, _ := os.ReadDir(logs)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), null+"-") {
			t.Errorf("null output created %s", e.Name())
		}
	}
}

// DESIGN.md lists `null` among the values of stdout and stderr; written as
// YAML usually is, unquoted, it must discard the output too, not fall back to
// the default auto (README: "a YAML null means not set").
func TestITOutputNullUnquoted(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("nullplain")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "echo out; echo err >&2; exec sleep 1000"]`, "stdout: null", "stderr: null"))
	itWaitStatus(t, d.dir, name, "running", itReadyCmd(1, "sleep", "1000"))
	ents, _ := os.ReadDir(filepath.Join(d.dir, StateDirName, "logs"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), name+"-") {
			t.Errorf("stdout: null / stderr: null created %s", e.Name())
		}
	}
}
