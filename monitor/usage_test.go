package monitor

import (
	"os/exec"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// TestUsageEvery: an instance's usage is read from its process group, and
// read again only once UsageEvery has passed.
func TestUsageEvery(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	s := NewState()
	s.Started(reconciler.DaemonView{}) // no cgroups: /proc
	s.Update(status.ProgramStatus{Metadata: status.Metadata{Name: "web"}, Status: status.Status{Replicas: 1,
		Instances: []status.Instance{{Name: "web-0", Index: 0, State: "RUNNING", Pid: cmd.Process.Pid}}}})
	fc := fakeclock.New()
	c := newCollector(s, HandlerOptions{Clock: fc, Log: logr.Discard()})
	first := c.readUsage(s.programs.snapshot())
	u, ok := first[usageKey{"web", 0, cmd.Process.Pid}]
	if !ok || u.MemoryBytes <= 0 {
		t.Fatalf("usage of web-0: %+v (found %v), want memory > 0", u, ok)
	}
	same := func(a, b any) bool { return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() }
	fc.Step(9 * time.Second)
	if again := c.readUsage(s.programs.snapshot()); !same(again, first) {
		t.Error("usage read again within UsageEvery")
	}
	fc.Step(time.Second)
	if again := c.readUsage(s.programs.snapshot()); same(again, first) {
		t.Error("usage not read again after UsageEvery")
	}
}
