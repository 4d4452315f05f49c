package reconciler

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// preStart runs before every start, in the instance's environment; a
// failing one is a failed start, up to FATAL, with its output in the
// message.
func TestITPreStart(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("prestart")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "test -f prepared-$RECONCILED_INSTANCE && exec sleep 1000"]`, "replicas: 2",
		`lifecycle: {preStart: {exec: {command: ["sh", "-c", "touch prepared-$(RECONCILED_INSTANCE)"]}}}`))
	itWaitStatus(t, d.dir, name, "running", itReady(2))

	bad := d.name("prefail")
	itWrite(t, d.dir, bad, itSpec(`["sleep", "1000"]`, "restartDelay: 0s", "startRetries: 2",
		`lifecycle: {preStart: {exec: {command: ["sh", "-c", "echo not ready; exit 3"]}}}`))
	st := itWaitStatus(t, d.dir, bad, "FATAL", itState(0, Fatal))
	if in, _ := itInstance(st, 0); !strings.HasPrefix(in.Message, "preStart failed: exit 3: not ready") {
		t.Errorf("message %q", in.Message)
	}
	if n := itCount(itEvents(t, d.dir, bad), "Started", "*"); n != 0 {
		t.Errorf("the program started %d times although preStart failed", n)
	}
}

// preStop runs before the stop signal: the order is seen in a file the
// program and the hook both append to.
func TestITPreStop(t *testing.T) {
	d := itStart(t, itOpts{})
	name := d.name("prestop")
	log := filepath.Join(d.dir, "order")
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "trap 'echo TERM >> order; exit 0' TERM; while :; do sleep 0.05; done"]`, "startSeconds: 0s",
		`lifecycle: {preStop: {exec: {command: ["sh", "-c", "echo preStop $(RECONCILED_INSTANCE) >> order"]}}}`))
	itWaitStatus(t, d.dir, name, "running", itReady(1))
	itWrite(t, d.dir, name, itSpec(`["sh", "-c", "trap 'echo TERM >> order; exit 0' TERM; while :; do sleep 0.05; done"]`, "startSeconds: 0s",
		`lifecycle: {preStop: {exec: {command: ["sh", "-c", "echo preStop $(RECONCILED_INSTANCE) >> order"]}}}`, "desired: stopped"))
	itWaitStatus(t, d.dir, name, "stopped", func(st status.ProgramStatus) bool { return st.Status.Phase == "Stopped" })
	b, _ := os.ReadFile(log)
	if string(b) != "preStop 0\nTERM\n" {
		t.Errorf("order %q, want preStop then TERM", b)
	}
}

// A leader that exits on its own while its preStop hook still runs (the
// hook asked it to): STOPPED only once the hook is gone too. With cgroups
// the hook runs in the instance's cgroup; without, in a process group of
// its own, which the instance waits for all the same.
func TestITPreStopOutlivesLeader(t *testing.T) {
	for mode, root := range itContainModes(t) {
		t.Run(mode, func(t *testing.T) {
			d := itStart(t, itOpts{cgroupRoot: root})
			name := d.name("hookslow")
			cmd := `["sh", "-c", "trap '' TERM; while [ ! -e quit-$RECONCILED_INSTANCE ]; do sleep 0.02; done"]`
			hook := `lifecycle: {preStop: {exec: {command: ["sh", "-c", "touch quit-$(RECONCILED_INSTANCE); exec sleep 0.7"]}, timeout: 5s}}`
			itWrite(t, d.dir, name, itSpec(cmd, "startSeconds: 0s", "replicas: 2", hook))
			itWaitStatus(t, d.dir, name, "running", itReady(2))
			itWrite(t, d.dir, name, itSpec(cmd, "startSeconds: 0s", "replicas: 2", hook, "desired: stopped", "stopTimeout: 5s"))
			var hooks []itProc
			if !waitfor.Until(waitTimeout, func() bool {
				hooks = nil
				for _, p := range itProgramProcs(name) {
					if c, _ := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/cmdline"); strings.HasPrefix(string(c), "sleep\x000.7") {
						hooks = append(hooks, p)
					}
				}
				return len(hooks) == 2
			}) {
				t.Fatalf("the preStop hooks did not start: %v", hooks)
			}
			itWaitStatus(t, d.dir, name, "stopped", itStopped)
			for _, p := range hooks {
				if p.alive() {
					t.Errorf("STOPPED while the preStop hook %d runs", p.pid)
				}
			}
		})
	}
}
