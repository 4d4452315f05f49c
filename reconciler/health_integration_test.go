package reconciler

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/status"
)

// Probes and dependsOn against real listeners, real commands and the real
// daemon.

// itInstanceIs is the condition "instance idx satisfies cond".
func itInstanceIs(idx int, cond func(status.Instance) bool) func(status.ProgramStatus) bool {
	return func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, idx)
		return ok && cond(in)
	}
}

// itAcceptAndClose accepts connections on ln and closes them, until ln is
// closed.
func itAcceptAndClose(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func TestITReadinessTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	go itAcceptAndClose(ln)
	d := itStart(t, itOpts{})
	name := d.name("tcp")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`,
		"readinessProbe: {tcpSocket: {port: "+port+"}, period: 100ms, failureThreshold: 2}"))
	itWaitStatus(t, d.dir, name, "ready", itReady(1))

	ln.Close() // connections are refused from now on
	st := itWaitStatus(t, d.dir, name, "not ready", func(st status.ProgramStatus) bool {
		return st.Status.Phase == "Degraded" && st.Status.ReadyReplicas == 0
	})
	in, _ := itInstance(st, 0)
	if in.State != string(Running) || !strings.Contains(in.Message, "readiness probe failed:") || !strings.Contains(in.Message, "refused") {
		t.Errorf("instance %+v", in)
	}

	ln2, err := net.Listen("tcp", addr) // the same port again
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ln2.Close()
	go itAcceptAndClose(ln2)
	itWaitStatus(t, d.dir, name, "ready again", itReady(1))
	evs := itEvents(t, d.dir, name)
	if itCount(evs, "Ready", name+"-0") != 2 || itCount(evs, "NotReady", name+"-0") != 1 || itCount(evs, "Started", "*") != 1 {
		t.Errorf("want Ready, NotReady, Ready of one process:\n%s", itEventsString(evs))
	}
}

func TestITReadinessHTTPPerInstance(t *testing.T) {
	var mu sync.Mutex
	healthy := map[string]bool{"/healthz/0": true}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := healthy[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	d := itStart(t, itOpts{})
	name := d.name("http")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "replicas: 2",
		`readinessProbe: {httpGet: {path: "/healthz/$(RECONCILED_INSTANCE)", port: `+port+`}, period: 100ms}`))
	st := itWaitStatus(t, d.dir, name, "0 ready, 1 not", func(st status.ProgramStatus) bool {
		a, _ := itInstance(st, 0)
		b, _ := itInstance(st, 1)
		return a.Ready && b.State == string(Running) && !b.Ready && b.Message != ""
	})
	if b, _ := itInstance(st, 1); !strings.HasPrefix(b.Message, "readiness probe failed: GET http://") || !strings.HasSuffix(b.Message, "HTTP status 503") {
		t.Errorf("message %q", b.Message)
	}
	if st.Status.ReadyReplicas != 1 {
		t.Errorf("readyReplicas %d", st.Status.ReadyReplicas)
	}
	mu.Lock()
	healthy["/healthz/1"] = true
	mu.Unlock()
	itWaitStatus(t, d.dir, name, "both ready", itReady(2))
}

func TestITLivenessExecRestarts(t *testing.T) {
	d := itStart(t, itOpts{})
	work := t.TempDir()
	// The probe fails as many times as the file "fails" says, counting down:
	// exactly two failures, then the next process is healthy.
	fails := filepath.Join(work, "fails")
	name := d.name("live")
	itWrite(t, d.dir, name, itSpec(`["sleep", "1000"]`, "workingDir: "+work,
		`livenessProbe: {exec: {command: ["sh", "-c", "n=$$(cat fails 2>/dev/null || echo 0); [ $$n -gt 0 ] || exit 0; echo $$((n-1)) > fails; echo no alive file in $(RECONCILED_PROGRAM); exit 1"]}, period: 100ms, failureThreshold: 2}`))
	st := itWaitStatus(t, d.dir, name, "running", itReady(1))
	first := itRef(t, itPids(st)[0])

	if err := os.WriteFile(fails, []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st = itWaitStatus(t, d.dir, name, "restarted", itInstanceIs(0, func(in status.Instance) bool {
		return in.Restarts == 1 && in.State == string(Running) && in.Pid != first.pid
	}))
	itWaitGone(t, "the unhealthy process", first)
	evs := itEvents(t, d.dir, name)
	for _, ev := range evs {
		if ev.Reason == "Unhealthy" {
			want := "liveness probe failed: command failed: exit code 1: no alive file in " + name
			if ev.Message != want || ev.Type != status.EventWarning || ev.Pid != first.pid {
				t.Errorf("Unhealthy event %+v, want message %q", ev, want)
			}
		}
	}
	if itCount(evs, "Unhealthy", "*") != 1 {
		t.Errorf("one Unhealthy event per restart:\n%s", itEventsString(evs))
	}
}

func TestITRolloutStallsOnNeverReadyAndResumes(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("stall")
	manifest := func(version string) string {
		return "metadata:\n  annotations: {reconciled.dev/progressDeadline: 1s}\n" + itSpec(`["sleep", "1000"]`, "replicas: 2",
			"env: {VERSION: "+version+"}",
			`readinessProbe: {exec: {command: ["sh", "-c", "test $(VERSION) != bad"]}, period: 100ms}`)
	}
	itWrite(t, d.dir, name, manifest("v1"))
	st := itWaitStatus(t, d.dir, name, "v1 ready", itReady(2))
	oldHash := st.Status.SpecHash

	itWrite(t, d.dir, name, manifest("bad"))
	st = itWaitStatus(t, d.dir, name, "deadline exceeded", func(st status.ProgramStatus) bool {
		return itCondition(st, status.ConditionProgressing).Reason == "ProgressDeadlineExceeded"
	})
	c := itCondition(st, status.ConditionProgressing)
	if c.Status != status.ConditionFalse || !strings.Contains(c.Message, "not ready after 1s") || st.Status.Phase != "Degraded" {
		t.Errorf("Progressing %+v, phase %s", c, st.Status.Phase)
	}
	serving := 0
	for _, in := range st.Status.Instances {
		if in.SpecHash == oldHash && in.Ready {
			serving++
		}
	}
	if serving != 1 || st.Status.UpdatedReplicas != 1 {
		t.Fatalf("want one old instance serving and one new one stuck:\n%s", itDump(st))
	}

	itWrite(t, d.dir, name, manifest("v3"))
	itWaitStatus(t, d.dir, name, "rollout resumed and done", func(st status.ProgramStatus) bool {
		return itReady(2)(st) && itCondition(st, status.ConditionProgressing).Reason == "Complete"
	})
}

func TestITDependsOn(t *testing.T) {
	d := itStart(t, itOpts{})
	work := t.TempDir()
	db, web := d.name("db"), d.name("web")
	itWrite(t, d.dir, web, itSpec(`["sleep", "1000"]`, "dependsOn: [{program: "+db+", condition: Ready}]"))
	itWaitStatus(t, d.dir, web, "waiting for a missing db", itInstanceIs(0, func(in status.Instance) bool {
		return in.State == string(Stopped) && in.Message == "waiting for "+db+": not found"
	}))
	itWrite(t, d.dir, db, itSpec(`["sleep", "1000"]`, "replicas: 2", "workingDir: "+work,
		`readinessProbe: {exec: {command: ["sh", "-c", "test -f ready-$(RECONCILED_INSTANCE)"]}, period: 100ms}`))
	itWaitStatus(t, d.dir, web, "waiting for db ready", itInstanceIs(0, func(in status.Instance) bool {
		return in.Message == "waiting for "+db+": 0/2 ready"
	}))
	if err := os.WriteFile(filepath.Join(work, "ready-0"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st := itWaitStatus(t, d.dir, web, "1/2", itInstanceIs(0, func(in status.Instance) bool {
		return in.Message == "waiting for "+db+": 1/2 ready"
	}))
	if st.Status.Phase != "Progressing" || itCondition(st, status.ConditionProgressing).Reason != "WaitingForDependencies" {
		t.Errorf("web while waiting:\n%s", itDump(st))
	}
	if err := os.WriteFile(filepath.Join(work, "ready-1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, d.dir, web, "web running", itReady(1))
	dbSt, err := status.ReadFile(status.StatusPath(d.dir, db))
	if err != nil {
		t.Fatal(err)
	}
	webEvs := itEvents(t, d.dir, web)
	var readyAt, startedAt time.Time
	for _, in := range dbSt.Status.Instances {
		for _, ev := range itEvents(t, d.dir, db) {
			if ev.Reason == "Ready" && ev.Instance == in.Name && ev.Time.After(readyAt) {
				readyAt = ev.Time
			}
		}
	}
	for _, ev := range webEvs {
		if ev.Reason == "Started" {
			startedAt = ev.Time
		}
	}
	if startedAt.Before(readyAt) {
		t.Errorf("web started at %v, before db was ready at %v", startedAt, readyAt)
	}
}

func TestITDependencyCycle(t *testing.T) {
	d := itStart(t, itOpts{})
	a, b := d.name("a"), d.name("b")
	// a is valid on its own (b is waited for); b then closes the cycle.
	itWrite(t, d.dir, a, itSpec(`["sleep", "1000"]`, "dependsOn: [{program: "+b+"}]"))
	itWaitStatus(t, d.dir, a, "a waiting for b", func(st status.ProgramStatus) bool {
		return len(st.Status.Instances) == 1 && strings.Contains(st.Status.Instances[0].Message, "waiting for "+b)
	})
	itWrite(t, d.dir, b, itSpec(`["sleep", "1000"]`, "dependsOn: [{program: "+a+"}]"))
	for _, n := range [][2]string{{a, b}, {b, a}} {
		st := itWaitStatus(t, d.dir, n[0], "SpecValid False", func(st status.ProgramStatus) bool {
			return itCondition(st, status.ConditionSpecValid).Status == status.ConditionFalse
		})
		want := "dependency cycle: " + n[0] + " -> " + n[1] + " -> " + n[0]
		if c := itCondition(st, status.ConditionSpecValid); !strings.Contains(c.Message, want) {
			t.Errorf("%s: SpecValid %+v, want %q", n[0], c, want)
		}
		// Nothing runs: b was never valid, so it has no instance; a keeps
		// its last valid spec, whose instance waits for b.
		for _, in := range st.Status.Instances {
			if n[0] == b || in.Pid != 0 || in.State != "STOPPED" {
				t.Errorf("%s: instance %+v, want none running", n[0], in)
			}
		}
	}
	// Breaking the cycle makes both valid; b starts once a runs.
	itWrite(t, d.dir, a, itSpec(`["sleep", "1000"]`))
	itWaitStatus(t, d.dir, b, "b running", itReady(1))
	itWaitStatus(t, d.dir, a, "a running", itReady(1))
}

func TestITShutdownOrder(t *testing.T) {
	d := itStart(t, itOpts{})
	db, web := d.name("db"), d.name("web")
	itWrite(t, d.dir, db, itSpec(`["sleep", "1000"]`, "replicas: 2"))
	// web takes a while to stop: db must still be there for it.
	itWrite(t, d.dir, web, itSpec(`["sh", "-c", "trap 'sleep 0.3; exit 0' TERM; while :; do sleep 0.05; done"]`,
		"replicas: 2", "stopTimeout: 5s", "dependsOn: [{program: "+db+"}]"))
	itWaitStatus(t, d.dir, web, "web running", itReady(2))
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	var webStopped, dbStopping time.Time
	for _, ev := range itEvents(t, d.dir, web) {
		if ev.Reason == "Stopped" && ev.Time.After(webStopped) {
			webStopped = ev.Time
		}
	}
	for _, ev := range itEvents(t, d.dir, db) {
		if ev.Reason == "Stopping" && (dbStopping.IsZero() || ev.Time.Before(dbStopping)) {
			dbStopping = ev.Time
		}
	}
	if webStopped.IsZero() || dbStopping.IsZero() || dbStopping.Before(webStopped) {
		t.Errorf("db began stopping at %v, before web had stopped at %v", dbStopping, webStopped)
	}
}

// TestITSlowProbeDoesNotDelayOthers: probes that hang until their timeout
// (60s, longer than any wait of this test) delay neither another instance's
// probes nor a restart: everything below happens while they still hang.
func TestITSlowProbeDoesNotDelayOthers(t *testing.T) {
	d := itStart(t, itOpts{})
	slow, fast := d.name("slow"), d.name("fast")
	itWrite(t, d.dir, slow, itSpec(`["sleep", "1000"]`, "replicas: 10",
		`readinessProbe: {exec: {command: ["sleep", "120"]}, timeout: 60s, period: 100ms}`))
	itWaitStatus(t, d.dir, slow, "slow probes running", func(st status.ProgramStatus) bool {
		return len(itPids(st)) == 10
	})
	itWrite(t, d.dir, fast, itSpec(`["sleep", "1000"]`, "restartDelay: 0s",
		`readinessProbe: {exec: {command: ["true"]}, period: 100ms}`))
	st := itWaitStatus(t, d.dir, fast, "fast ready", itReady(1))
	victim := itRef(t, itPids(st)[0])
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	itWaitStatus(t, d.dir, fast, "replaced and ready", func(st status.ProgramStatus) bool {
		in, ok := itInstance(st, 0)
		return ok && in.Restarts == 1 && itReady(1)(st)
	})
	st, err := status.ReadFile(status.StatusPath(d.dir, slow))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range st.Status.Instances {
		if in.Ready || in.Message != "" {
			t.Errorf("%s: a slow probe has already decided (ready %v, %q)", in.Name, in.Ready, in.Message)
		}
	}
}
