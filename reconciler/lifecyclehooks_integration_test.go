package reconciler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
