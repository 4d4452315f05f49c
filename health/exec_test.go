package health

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/proc"
	"github.com/reconciled/reconciled/spec"
)

func newExecProber(t *testing.T, target Target, command ...string) Prober {
	t.Helper()
	if target.Env == nil {
		target.Env = []string{testPath}
	}
	target.Starter = testStarter
	pr, err := New(&spec.Probe{Exec: &spec.ExecAction{Command: command}}, target)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return pr
}

func TestExecSuccess(t *testing.T) {
	pr := newExecProber(t, Target{}, "sh", "-c", "echo '  out'; echo err >&2; exit 0")
	r := probeWithin(t, pr, 5*time.Second)
	if !r.OK || r.Err != nil {
		t.Fatalf("got %+v, want OK", r)
	}
	if r.Output != "out\nerr" {
		t.Errorf("Output = %q, want %q", r.Output, "out\nerr")
	}
}

func TestExecFailure(t *testing.T) {
	pr := newExecProber(t, Target{}, "sh", "-c", "echo not ready; exit 1")
	r := probeWithin(t, pr, 5*time.Second)
	if r.OK {
		t.Fatalf("got OK, want a failure")
	}
	if r.Err == nil || r.Err.Error() != "command failed: exit code 1" {
		t.Errorf("Err = %v, want %q", r.Err, "command failed: exit code 1")
	}
	if errors.Is(r.Err, ErrTimeout) {
		t.Errorf("Err = %v wraps ErrTimeout", r.Err)
	}
	if r.Output != "not ready" {
		t.Errorf("Output = %q", r.Output)
	}
}

func TestExecNotFound(t *testing.T) {
	pr := newExecProber(t, Target{Env: []string{testPath, "SECRET=hunter2"}}, "no-such-probe-command")
	r := probeWithin(t, pr, 5*time.Second)
	if r.OK || r.Err == nil {
		t.Fatalf("got %+v, want an error", r)
	}
	if !strings.Contains(r.Err.Error(), "not found") || strings.Contains(r.Err.Error(), "hunter2") {
		t.Errorf("Err = %v", r.Err)
	}
}

// TestExecTimeoutKillsGroup: at the timeout the command and its grandchild,
// in the same process group, are SIGKILLed, and the probe returns at once
// (probeWithin fails the test if it waits for the sleeps instead).
func TestExecTimeoutKillsGroup(t *testing.T) {
	pr := newExecProber(t, Target{}, "sh", "-c", "echo $$$$; sh -c 'sleep 100 & echo $!; sleep 100'") // $$ is a literal $
	r := probeWithin(t, pr, 100*time.Millisecond)
	if r.OK || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("got %+v, want a timeout", r)
	}
	checkTimeoutErr(t, r.Err, "", 100*time.Millisecond)
	pids := pidsOf(t, r.Output, 2)
	leader, grandchild := pids[0], pids[1]
	killGroupLater(t, grandchild, leader)
	waitfor.Condition(t, waitTimeout, func() bool { return gone(grandchild, leader) }, "the grandchild is killed")
	// The leader was reaped by the probe itself (Release).
	if !gone(leader, leader) {
		t.Errorf("leader %d still there", leader)
	}
}

// TestExecSleepTimeout: a plain sleep is killed at the timeout: the probe
// returns with a timeout, not when the sleep ends (probeWithin's bound is
// far shorter than the sleep).
func TestExecSleepTimeout(t *testing.T) {
	pr := newExecProber(t, Target{}, "sleep", "100")
	r := probeWithin(t, pr, 100*time.Millisecond)
	if r.OK || !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("got %+v, want a timeout", r)
	}
}

// TestExecKillsLeftovers: a command that exits at once, leaving a background
// process that holds the output pipe, succeeds at once, and the background
// process is killed (probes would otherwise pile up one per period). A probe
// that waited for the background process would end in its timeout, which
// is far shorter than the background sleep: not OK.
func TestExecKillsLeftovers(t *testing.T) {
	pr := newExecProber(t, Target{}, "sh", "-c", "echo $$$$; sleep 100 & echo $!; exit 0")
	r := probeWithin(t, pr, 20*time.Second)
	if !r.OK {
		t.Fatalf("got %+v, want OK (a timeout means it waited for the background process)", r)
	}
	pids := pidsOf(t, r.Output, 2)
	killGroupLater(t, pids[1], pids[0])
	waitfor.Condition(t, waitTimeout, func() bool { return gone(pids[1], pids[0]) }, "the background process is killed")
}

// TestExecEnvDirExpansion: the command runs with the instance's environment
// and working directory, and $(VAR) in it is expanded from that environment.
func TestExecEnvDirExpansion(t *testing.T) {
	dir := t.TempDir()
	env := []string{testPath, "GREETING=hello", spec.EnvInstance + "=3"}
	pr := newExecProber(t, Target{Env: env, Dir: dir},
		"sh", "-c", "echo $(GREETING)-$(RECONCILED_INSTANCE) '$$(GREETING)' $GREETING; pwd")
	r := probeWithin(t, pr, 5*time.Second)
	if !r.OK {
		t.Fatalf("got %+v", r)
	}
	want := "hello-3 $(GREETING) hello\n" + dir
	if r.Output != want {
		t.Errorf("Output = %q, want %q", r.Output, want)
	}
}

func TestExecCredential(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cred, _, err := proc.LookupUser("nobody", "")
	if err != nil {
		t.Skip(err)
	}
	pr := newExecProber(t, Target{Credential: &cred}, "sh", "-c", "id -u; id -g")
	r := probeWithin(t, pr, 5*time.Second)
	want := strconv.Itoa(int(cred.UID)) + "\n" + strconv.Itoa(int(cred.GID))
	if !r.OK || r.Output != want {
		t.Errorf("got %+v, want output %q", r, want)
	}
}

// TestExecOutputBounded: a command that writes a lot is not blocked by a full
// pipe, and Output keeps the head, cut to MaxOutput bytes.
func TestExecOutputBounded(t *testing.T) {
	pr := newExecProber(t, Target{}, "sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 'é0123456789012345678901234567890123456789'; i=$((i+1)); done")
	r := probeWithin(t, pr, 10*time.Second)
	if !r.OK {
		t.Fatalf("got %+v", r)
	}
	if len(r.Output) > MaxOutput || !strings.HasSuffix(r.Output, "…") || !strings.HasPrefix(r.Output, "é0123") {
		t.Errorf("Output: %d bytes, %q...%q", len(r.Output), r.Output[:20], r.Output[len(r.Output)-20:])
	}
}

func TestTrimOutput(t *testing.T) {
	long := strings.Repeat("é", MaxOutput) // 2 bytes each
	for _, tc := range []struct {
		in        string
		truncated bool
		want      string
	}{
		{"", false, ""},
		{" \n ok \n", false, "ok"},
		{"ok\n", true, "ok…"},
		{"bad \xff utf8", false, "bad \uFFFD utf8"},
		{long, false, long[:MaxOutput-4] + "…"}, // 1020 bytes of é, then 3 bytes of …
	} {
		got := trimOutput([]byte(tc.in), tc.truncated)
		if got != tc.want {
			t.Errorf("trimOutput(%.20q, %v) = %.30q (%d bytes), want %.30q (%d bytes)", tc.in, tc.truncated, got, len(got), tc.want, len(tc.want))
		}
		if len(got) > MaxOutput {
			t.Errorf("trimOutput(%.20q): %d bytes", tc.in, len(got))
		}
	}
}

func TestNewExecErrors(t *testing.T) {
	exec := &spec.Probe{Exec: &spec.ExecAction{Command: []string{"true"}}}
	if _, err := New(exec, Target{}); err == nil {
		t.Error("New without a starter: no error")
	}
	if _, err := New(&spec.Probe{Exec: &spec.ExecAction{}}, Target{Starter: testStarter}); err == nil {
		t.Error("New with an empty command: no error")
	}
	if _, err := New(&spec.Probe{}, Target{}); err == nil {
		t.Error("New with no action: no error")
	}
	two := &spec.Probe{Exec: exec.Exec, TCPSocket: &spec.TCPSocketAction{Port: "80"}}
	if _, err := New(two, Target{Starter: testStarter}); err == nil {
		t.Error("New with two actions: no error")
	}
}

// pidsOf parses n pids, one a line, from a probe's output.
func pidsOf(t *testing.T, out string, n int) []int {
	t.Helper()
	f := strings.Fields(out)
	if len(f) != n {
		t.Fatalf("output %q: want %d pids", out, n)
	}
	pids := make([]int, n)
	for i, s := range f {
		pid, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		pids[i] = pid
	}
	return pids
}
