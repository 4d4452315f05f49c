package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// cliEvents returns "INSTANCE REASON: MESSAGE" of name's events.
func cliEvents(t *testing.T, d *cliDaemon, name string) []string {
	t.Helper()
	evs, err := status.ReadEvents(d.dir, name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Instance+" "+ev.Reason+": "+ev.Message)
	}
	return out
}

// restart NAME-i replaces that instance's process only, through the
// daemon, and leaves the manifest alone; --force kills with SIGKILL a
// process that ignores its stop signal.
func TestCLIRestartInstance(t *testing.T) {
	d := cliStart(t)
	// TERM is ignored: only SIGKILL (at stopTimeout, or --force) ends it.
	manifest := cliManifest(`["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]`, "replicas: 2")
	path := d.write(t, "web", manifest)
	before := cliPids(d.waitReady(t, "web", 2))

	res := d.cli(t, "restart", "web-1", "--force", "--wait")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "web-1 restarting (SIGKILL)\n") || !strings.HasSuffix(res.stdout, "web-1: restarted\n") {
		t.Fatalf("restart web-1 --force --wait: %v", res)
	}
	after := cliPids(d.waitReady(t, "web", 2))
	if after[0] != before[0] || after[1] == before[1] {
		t.Errorf("pids %v -> %v: want web-1 replaced and web-0 kept", before, after)
	}
	if cliAlive(before[1]) {
		t.Errorf("the old web-1 (pid %d) is alive", before[1])
	}
	if data, _ := os.ReadFile(path); string(data) != manifest {
		t.Errorf("restart NAME-i changed the manifest:\n%s", data)
	}
	evs := cliEvents(t, d, "web")
	want := "web-1 Stopping: restart requested: sent KILL to the process group"
	if !strings.Contains(strings.Join(evs, "\n"), want) {
		t.Errorf("events %q, want %q", evs, want)
	}
	for _, ev := range evs {
		if strings.HasPrefix(ev, "web-0 Stopping") || strings.Contains(ev, "Killed:") {
			t.Errorf("unexpected event %q", ev)
		}
	}

	// Without --force: the stop signal, then SIGKILL at stopTimeout.
	res = d.cli(t, "restart", "web-0", "--wait")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "web-0 restarting\n") || !strings.HasSuffix(res.stdout, "web-0: restarted\n") {
		t.Fatalf("restart web-0 --wait: %v", res)
	}
	if now := cliPids(d.waitReady(t, "web", 2)); now[0] == before[0] || now[1] != after[1] {
		t.Errorf("pids %v -> %v: want web-0 replaced and web-1 kept", after, now)
	}
	evs = cliEvents(t, d, "web")
	if !strings.Contains(strings.Join(evs, "\n"), "web-0 Stopping: restart requested: sent TERM to the process group") {
		t.Errorf("events %q", evs)
	}

	// Errors: an index that does not run, --force on a program, no daemon.
	if res := d.cli(t, "restart", "web-5"); res.code != 1 || !strings.Contains(res.stderr, "web-5: no such instance") {
		t.Errorf("restart web-5: %v", res)
	}
	if res := d.cli(t, "restart", "web", "--force"); res.code != 2 || !strings.Contains(res.stderr, "--force restarts instances") {
		t.Errorf("restart web --force: %v", res)
	}
	if res := cliExec(t.Context(), "", "--dir", t.TempDir(), "restart", "x-0"); res.code != 1 {
		t.Errorf("restart with no manifest and no daemon: %v", res)
	}
}

// restart NAME-i of a FATAL instance starts it again at once.
func TestCLIRestartInstanceFatal(t *testing.T) {
	d := cliStart(t)
	flag := filepath.Join(t.TempDir(), "ok")
	// Fails until the flag file exists.
	d.write(t, "flaky", cliManifest(`["sh", "-c", "test -f `+flag+` || exit 3; while :; do sleep 0.1; done"]`, "startRetries: 1"))
	waitfor.Condition(t, cliTimeout, func() bool {
		st, ok := d.status("flaky")
		return ok && len(st.Status.Instances) == 1 && st.Status.Instances[0].State == "FATAL"
	}, "flaky-0 to be FATAL")
	st, _ := d.status("flaky")
	if msg := st.Status.Instances[0].Message; !strings.HasPrefix(msg, "Exited too quickly (process log may have details): ") {
		t.Errorf("FATAL message %q", msg)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := d.cli(t, "restart", "flaky-0", "--wait"); res.code != 0 || !strings.HasSuffix(res.stdout, "flaky-0: restarted\n") {
		t.Fatalf("restart flaky-0 --wait: %v", res)
	}
}

// start and stop refuse an instance and point to scale; start and stop
// --wait end with supervisorctl's words.
func TestCLIStartStopInstanceRefused(t *testing.T) {
	d := cliStart(t)
	manifest := cliManifest(`[sleep, "1000"]`, "replicas: 2")
	path := d.write(t, "web", manifest)
	d.waitReady(t, "web", 2)
	for _, verb := range []string{"start", "stop"} {
		res := d.cli(t, verb, "web-1")
		if res.code != 2 || !strings.Contains(res.stderr, "web-1 is an instance of web") ||
			!strings.Contains(res.stderr, "reconciled scale web N") || !strings.Contains(res.stderr, "reconciled restart web-1") {
			t.Errorf("%s web-1: %v", verb, res)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != manifest {
		t.Errorf("manifest changed:\n%s", data)
	}
	if res := d.cli(t, "stop", "web", "--wait"); res.code != 0 || !strings.HasSuffix(res.stdout, "web: stopped\n") || strings.Count(res.stdout, "web: stopped") != 1 {
		t.Errorf("stop --wait: %v", res)
	}
	if res := d.cli(t, "start", "web", "--wait"); res.code != 0 || !strings.HasSuffix(res.stdout, "web: 2/2 ready\nweb: started\n") {
		t.Errorf("start --wait: %v", res)
	}
}

// A program never started says "Not started"; once it ran and stopped,
// it no longer does.
func TestCLINotStarted(t *testing.T) {
	d := cliStart(t)
	d.write(t, "idle", cliManifest(`[sleep, "1000"]`, "desired: stopped"))
	waitfor.Condition(t, cliTimeout, func() bool { _, ok := d.status("idle"); return ok }, "idle's status")
	if res := d.cli(t, "status", "idle"); res.code != 0 || !strings.Contains(res.stdout, "Not started") {
		t.Errorf("status of a program never started: %v", res)
	}
	if res := d.cli(t, "describe", "idle"); !strings.Contains(res.stdout, "Stopped (Not started)") {
		t.Errorf("describe: %v", res)
	}
	if res := d.cli(t, "start", "idle", "--wait"); res.code != 0 {
		t.Fatal(res)
	}
	if res := d.cli(t, "stop", "idle", "--wait"); res.code != 0 {
		t.Fatal(res)
	}
	if res := d.cli(t, "status", "idle"); res.code != 0 || strings.Contains(res.stdout, "Not started") {
		t.Errorf("status after a start and a stop: %v", res)
	}
}

// signal right after start waits for a running instance, so that the
// signal reaches the program rather than failing; a program that is not
// wanted running fails at once.
func TestCLISignalAfterStart(t *testing.T) {
	d := cliStart(t)
	d.write(t, "job", "spec:\n  command: [\"sh\", \"-c\", \"trap 'echo got USR1' USR1; echo up; while :; do sleep 0.1; done\"]\n"+
		"  desired: stopped\n  startSeconds: 500ms\n  stopTimeout: 1s\n")
	waitfor.Condition(t, cliTimeout, func() bool { _, ok := d.status("job"); return ok }, "job's status")
	if res := d.cli(t, "signal", "job", "USR1"); res.code != 1 || !strings.Contains(res.stderr, "no running instance to signal") {
		t.Errorf("signal of a stopped program: %v", res)
	}
	if res := d.cli(t, "start", "job"); res.code != 0 {
		t.Fatal(res)
	}
	if res := d.cli(t, "signal", "job", "USR1"); res.code != 0 || res.stdout != "sent USR1 to every instance of job\n" {
		t.Fatalf("signal right after start: %v", res)
	}
	logs := filepath.Join(d.dir, reconciler.StateDirName, "logs")
	waitfor.Condition(t, cliTimeout, func() bool {
		b, _ := os.ReadFile(filepath.Join(logs, "job-0.stdout.log"))
		return strings.Contains(string(b), "got USR1")
	}, "job-0 to print got USR1")
	if res := d.cli(t, "stop", "job", "--wait"); res.code != 0 {
		t.Error(res)
	}
	// A wanted instance that never comes (its dependency never runs): the
	// timeout ends the wait.
	d.write(t, "waiter", cliManifest(`[sleep, "1000"]`, "dependsOn: [{program: nosuch}]"))
	waitfor.Condition(t, cliTimeout, func() bool { _, ok := d.status("waiter"); return ok }, "waiter's status")
	if res := d.cli(t, "signal", "waiter", "USR1", "--timeout", "200ms"); res.code != 1 ||
		!strings.Contains(res.stderr, "waiter: no running instance to signal (none running within --timeout 200ms)") {
		t.Errorf("signal of an instance that does not come: %v", res)
	}
}
