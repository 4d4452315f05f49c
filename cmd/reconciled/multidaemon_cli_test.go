package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// vagga's two terminals: `run --only web` and `run --exclude web` on one
// directory. restart NAME-i, reload and shutdown reach the daemon that owns
// the program, or every daemon; a third daemon that wants web is refused
// web with its owner's pid, and takes it once the owner is gone; a daemon
// without a filter is refused as a whole.
func TestCLITwoDaemons(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"web", "api"} {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(cliManifest(`[sleep, "1000"]`)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(dir, reconciler.StateDirName)
	a, aLog, aExit := cliDaemonProcess(t, dir, "--only", "web")
	b, bLog, bExit := cliDaemonProcess(t, dir, "--exclude", "web")
	d := &cliDaemon{dir: dir}
	web := d.waitReady(t, "web", 1).Status.Instances[0].Pid
	api := d.waitReady(t, "api", 1).Status.Instances[0].Pid
	waitfor.Condition(t, cliTimeout, func() bool {
		return reconciler.ProgramOwner(state, "web") == a.Process.Pid && reconciler.ProgramOwner(state, "api") == b.Process.Pid
	}, "each daemon to own its program")

	// One instance restarts through its owner; the other daemon's runs on.
	if res := d.cli(t, "restart", "web-0"); res.code != 0 {
		t.Fatalf("restart web-0: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool {
		st, ok := d.status("web")
		return ok && len(st.Status.Instances) == 1 && st.Status.Instances[0].Pid != web && st.Status.Instances[0].Ready
	}, "web-0 to run again with a new pid")
	if res := d.cli(t, "restart", "api-0"); res.code != 0 {
		t.Fatalf("restart api-0: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool {
		st, ok := d.status("api")
		return ok && len(st.Status.Instances) == 1 && st.Status.Instances[0].Pid != api && st.Status.Instances[0].Ready
	}, "api-0 to run again with a new pid")
	web = d.waitReady(t, "web", 1).Status.Instances[0].Pid
	api = d.waitReady(t, "api", 1).Status.Instances[0].Pid

	// reload NAME reaches the owner; reload every daemon.
	if res := d.cli(t, "reload", "api"); res.code != 0 || res.stdout != fmt.Sprintf("sent HUP to the daemon (pid %d): rescanning %s\n", b.Process.Pid, dir) {
		t.Errorf("reload api: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool { return strings.Contains(bLog.String(), "Reload requested") }, "the --exclude daemon to log the reload")
	if strings.Contains(aLog.String(), "Reload requested") {
		t.Errorf("reload api reached the daemon of web")
	}
	if res := d.cli(t, "reload"); res.code != 0 || strings.Count(res.stdout, "sent HUP") != 2 {
		t.Errorf("reload: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool { return strings.Contains(aLog.String(), "Reload requested") }, "the --only daemon to log the reload")

	// A second claim on web is refused with the owner's pid.
	c, cLog, cExit := cliDaemonProcess(t, dir, "--only", "web")
	waitfor.Condition(t, cliTimeout, func() bool { return strings.Contains(cLog.String(), "Program owned by another daemon") }, "the third daemon to refuse web")
	var refused bool
	waitfor.Condition(t, cliTimeout, func() bool {
		evs, _ := status.ReadEvents(dir, "web")
		for _, ev := range evs {
			refused = refused || ev.Reason == reconciler.ReasonOwnedByOtherDaemon && strings.Contains(ev.Message, fmt.Sprintf("pid %d", a.Process.Pid))
		}
		return refused
	}, "an OwnedByOtherDaemon event naming the owner's pid")
	// A daemon without a filter is refused as a whole, naming the daemons.
	if res := d.cli(t, "run", "--dir", dir); res.code != 1 || !strings.Contains(res.stderr, "another reconciled daemon holds the directory (pid ") ||
		!strings.Contains(res.stderr, fmt.Sprint(a.Process.Pid)) {
		t.Errorf("unfiltered run beside filtered ones: %v", res)
	}
	if st, _ := d.status("web"); st.Status.Instances[0].Pid != web {
		t.Errorf("web-0 was touched by the refused daemons: pid %d, was %d", st.Status.Instances[0].Pid, web)
	}

	// shutdown web stops its owner only; the third daemon takes web over
	// at its next pass (reload).
	if res := d.cli(t, "shutdown", "web", "--timeout", "20s"); res.code != 0 || !strings.Contains(res.stdout, fmt.Sprintf("(pid %d)", a.Process.Pid)) {
		t.Fatalf("shutdown web: %v", res)
	}
	if err := <-aExit; err != nil {
		t.Errorf("the --only daemon exited with %v", err)
	}
	if cliAlive(web) {
		t.Errorf("web-0 (pid %d) alive after its daemon's shutdown", web)
	}
	if res := d.cli(t, "reload", "api"); res.code != 0 {
		t.Errorf("reload api: %v", res)
	}
	if res := d.cli(t, "reload"); res.code != 0 {
		t.Errorf("reload: %v", res)
	}
	waitfor.Condition(t, cliTimeout, func() bool {
		st, ok := d.status("web")
		return ok && reconciler.ProgramOwner(state, "web") == c.Process.Pid && len(st.Status.Instances) == 1 && st.Status.Instances[0].Ready
	}, "the third daemon to take web over")
	if st, _ := d.status("api"); st.Status.Instances[0].Pid != api {
		t.Errorf("api-0 restarted: pid %d, was %d", st.Status.Instances[0].Pid, api)
	}

	// shutdown without a name stops every daemon.
	if res := d.cli(t, "shutdown", "--timeout", "20s"); res.code != 0 || !strings.HasSuffix(res.stdout, "the 2 daemons have exited\n") {
		t.Errorf("shutdown: %v", res)
	}
	for _, exit := range []<-chan error{bExit, cExit} {
		if err := <-exit; err != nil {
			t.Errorf("daemon exit: %v", err)
		}
	}
	if held, _ := reconciler.Held(state); held {
		t.Errorf("the directory is held after shutdown")
	}
}
