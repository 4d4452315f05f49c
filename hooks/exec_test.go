package hooks

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/status"
)

// envScript writes, into $OUT/REASON.PID, the documented variables, the
// working directory and its arguments (a command line expanded from the
// instance's environment), one "key=value" a line. $$$$ is the shell's $$:
// $$ is a literal $ in a hook's command, as in an instance's.
const envScript = `f="$OUT/$RECONCILED_EVENT_REASON.$$$$"
{
  echo "reason=$RECONCILED_EVENT_REASON"
  echo "type=$RECONCILED_EVENT_TYPE"
  echo "message=$RECONCILED_EVENT_MESSAGE"
  echo "time=$RECONCILED_EVENT_TIME"
  echo "pid=$RECONCILED_PID"
  echo "code=$RECONCILED_EXIT_CODE"
  echo "signal=$RECONCILED_EXIT_SIGNAL"
  echo "instance=$RECONCILED_INSTANCE"
  echo "greeting=$GREETING"
  echo "pwd=$(pwd)"
  echo "arg1=$1"
  echo "arg2=$2"
} > "$f.tmp" && mv "$f.tmp" "$f"
echo "hook output, not for the instance's log"`

// A crash fires the exec hook once per event of a listed reason, with the
// instance's environment, directory and the RECONCILED_EVENT_* variables;
// $(VAR) in the command expands from them.
func TestExecEnvironment(t *testing.T) {
	out, dir := t.TempDir(), t.TempDir()
	r, rec := newRunner(t, nil, Hook{
		Events: []string{"Exited", "Fatal"},
		Exec:   &ExecAction{Command: []string{"sh", "-c", envScript, "hook", "$(GREETING)", "$(RECONCILED_EVENT_REASON)"}},
	})
	inst := instanceCtx(dir, "OUT="+out, "GREETING=hello there", "RECONCILED_INSTANCE=0",
		"RECONCILED_EVENT_REASON=stale") // the event's own value wins

	exited := event("Exited", "web-0", "exited with code 3 after 1.2s")
	exited.Pid, exited.Exit = 4242, &status.Exit{Code: 3}
	killed := event("Exited", "web-0", "killed by signal TERM")
	killed.Pid, killed.Exit = 4243, &status.Exit{Code: -1, Signal: "TERM"}
	fatal := event("Fatal", "web-0", "Exited too quickly (process log may have details)")
	r.Fire(event("Started", "web-0", "not listed"), inst)
	r.Fire(exited, inst)
	r.Fire(killed, inst)
	r.Fire(fatal, inst)
	if err := r.Close(context.WithoutCancel(t.Context())); err != nil {
		t.Fatalf("Close: %v", err) // it waits for the three runs
	}
	if evs := rec.all(); len(evs) != 0 {
		t.Fatalf("events %v, want none", evs)
	}

	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var runs []map[string]string
	for _, e := range entries {
		kv := map[string]string{}
		for _, l := range readLines(t, filepath.Join(out, e.Name())) {
			k, v, _ := strings.Cut(l, "=")
			kv[k] = v
		}
		runs = append(runs, kv)
	}
	if len(runs) != 3 {
		t.Fatalf("%d runs (%v), want 3: one per listed event", len(runs), runs)
	}
	common := map[string]string{
		"time": "2026-11-22T10:00:01.123Z", "instance": "0", "greeting": "hello there",
		"pwd": dir, "arg1": "hello there",
	}
	want := []map[string]string{
		{"reason": "Exited", "type": "Warning", "message": exited.Message, "pid": "4242", "code": "3", "signal": "", "arg2": "Exited"},
		{"reason": "Exited", "type": "Warning", "message": killed.Message, "pid": "4243", "code": "", "signal": "TERM", "arg2": "Exited"},
		{"reason": "Fatal", "type": "Warning", "message": fatal.Message, "pid": "", "code": "", "signal": "", "arg2": "Fatal"},
	}
	for _, w := range want {
		for k, v := range common {
			w[k] = v
		}
		i := slices.IndexFunc(runs, func(got map[string]string) bool { return got["message"] == w["message"] })
		if i < 0 {
			t.Errorf("no run for %q in %v", w["message"], runs)
			continue
		}
		for k, v := range w {
			if got := runs[i][k]; got != v {
				t.Errorf("run for %q: %s = %q, want %q", w["message"], k, got, v)
			}
		}
	}
}

// A failing hook is a HookFailed warning about the instance that quotes the
// end of its output, at most OutputTail bytes of it.
func TestExecFailureOutput(t *testing.T) {
	r, rec := newRunner(t, nil, Hook{
		Events: []string{"Fatal"},
		Exec:   &ExecAction{Command: []string{"sh", "-c", `echo first words; head -c 2000 /dev/zero | tr '\0' x; echo; echo last words >&2; exit 3`}},
	})
	r.Fire(event("Fatal", "web-1", "gave up"), instanceCtx(""))
	ev := rec.waitEvents(t, ReasonHookFailed, 1)[0]
	if ev.Type != status.EventWarning || ev.Program != "web" || ev.Instance != "web-1" || ev.Time.IsZero() {
		t.Errorf("event %+v, want a warning about web-1 of web, with a time", ev)
	}
	prefix := "hooks[0] (exec) on Fatal failed: exit code 3: …"
	if !strings.HasPrefix(ev.Message, prefix) || !strings.HasSuffix(ev.Message, "xxx\nlast words") {
		t.Errorf("message %q, want %q, the end of the output", ev.Message, prefix+"xxx…\\nlast words")
	}
	if strings.Contains(ev.Message, "first words") || len(ev.Message) > len(prefix)+OutputTail {
		t.Errorf("message of %d bytes %q, want at most the last %d bytes of the output", len(ev.Message), ev.Message, OutputTail)
	}
}

// A command that cannot start is a HookFailed too.
func TestExecStartFailure(t *testing.T) {
	r, rec := newRunner(t, nil, Hook{Events: []string{"Fatal"}, Exec: &ExecAction{Command: []string{"no-such-hook-command"}}})
	r.Fire(event("Fatal", "web-0", "gave up"), instanceCtx(""))
	ev := rec.waitEvents(t, ReasonHookFailed, 1)[0]
	if !strings.HasPrefix(ev.Message, "hooks[0] (exec) on Fatal failed to start: ") || !strings.Contains(ev.Message, "no-such-hook-command") {
		t.Errorf("message %q, want a start failure naming the command", ev.Message)
	}
}

// A slow hook is killed at its timeout, with whatever it started in its
// process group, and reported as a HookFailed with its output.
func TestExecTimeout(t *testing.T) {
	clk := fakeclock.New()
	out := t.TempDir()
	r, rec := newRunner(t, clk, Hook{
		Events:  []string{"Exited"},
		Exec:    &ExecAction{Command: []string{"sh", "-c", `sleep 1000 & echo $! > "$OUT/bg"; echo stuck here; echo $$$$ > "$OUT/pid"; wait`}},
		Timeout: 5 * time.Second,
	})
	r.Fire(event("Exited", "web-0", "exited"), instanceCtx("", "OUT="+out))
	var pids []int
	waitfor.Condition(t, waitTimeout, func() bool {
		pids = pids[:0]
		for _, f := range []string{"pid", "bg"} {
			if l := readLines(t, filepath.Join(out, f)); len(l) == 1 {
				n, _ := strconv.Atoi(l[0])
				pids = append(pids, n)
			}
		}
		return len(pids) == 2
	}, "the hook and its child to start")

	clk.Step(5*time.Second - time.Nanosecond)
	if evs := rec.all(); len(evs) != 0 {
		t.Fatalf("events %v before the timeout", evs)
	}
	clk.Step(time.Nanosecond)
	ev := rec.waitEvents(t, ReasonHookFailed, 1)[0]
	if want := "hooks[0] (exec) on Exited timed out after 5s and was killed: stuck here"; ev.Message != want {
		t.Errorf("message %q, want %q", ev.Message, want)
	}
	for _, pid := range pids {
		waitfor.Condition(t, waitTimeout, func() bool { return gone(pid) }, "pid %d to be gone", pid)
	}
}

// gone reports whether pid no longer runs: it does not exist or is a zombie
// (an orphan the test Starter's reaper has not reaped yet).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// An exec hook runs as the instance's user.
func TestExecCredential(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	cred, _, err := proc.LookupUser("nobody", "")
	if err != nil {
		t.Skip(err)
	}
	r, rec := newRunner(t, nil, Hook{Events: []string{"Fatal"}, Exec: &ExecAction{Command: []string{"sh", "-c", "id -u; exit 1"}}})
	inst := instanceCtx("/")
	inst.Credential = &cred
	r.Fire(event("Fatal", "web-0", "gave up"), inst)
	ev := rec.waitEvents(t, ReasonHookFailed, 1)[0]
	if want := "failed: exit code 1: " + strconv.Itoa(int(cred.UID)); !strings.HasSuffix(ev.Message, want) {
		t.Errorf("message %q, want it to end with %q", ev.Message, want)
	}
}

// Close lets a running hook finish until its context ends, then kills it:
// a HookFailed that says so, and Close's error.
func TestCloseKills(t *testing.T) {
	out := t.TempDir()
	r, rec := newRunner(t, fakeclock.New(), Hook{
		Events: []string{"Stopped"},
		Exec:   &ExecAction{Command: []string{"sh", "-c", `echo $$$$ > "$OUT/pid.tmp"; mv "$OUT/pid.tmp" "$OUT/pid"; exec sleep 1000`}},
	})
	r.Fire(event("Stopped", "web-0", "stopped"), instanceCtx("", "OUT="+out))
	var pid int
	waitfor.Condition(t, waitTimeout, func() bool {
		l := readLines(t, filepath.Join(out, "pid"))
		if len(l) == 1 {
			pid, _ = strconv.Atoi(l[0])
		}
		return pid > 0
	}, "the hook to start")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Close(ctx); err == nil {
		t.Error("Close returned nil, want the context's error: it had to kill")
	}
	if !gone(pid) {
		t.Errorf("hook pid %d still runs after Close", pid)
	}
	evs := rec.events(ReasonHookFailed)
	if len(evs) != 1 || !strings.HasSuffix(evs[0].Message, "was killed: the daemon is shutting down") {
		t.Errorf("HookFailed events %v, want one that says the hook was killed at shutdown", evs)
	}
	r.Fire(event("Stopped", "web-0", "after Close"), instanceCtx("", "OUT="+out))
	r.mu.Lock()
	running := r.running
	r.mu.Unlock()
	if running != 0 {
		t.Errorf("%d hooks run after Close and a Fire, want 0", running)
	}
}
