package reconciler

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// Two daemons on one directory, --only web and --exclude web. The second
// is SIGKILLed and started again: it ends what it left of its own program
// (a grandchild outside the leader, which the parent-death signal does not
// reach), and nothing of the first daemon's: the same processes run on.
func TestITTwoDaemonsKillOne(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, StateDirName)
	web, api := "web-"+strconv.Itoa(os.Getpid()), "api-"+strconv.Itoa(os.Getpid())
	t.Cleanup(func() { itKillPrograms(web, api) })
	forking := itSpec(`["sh", "-c", "sleep 1000 & exec sleep 1000"]`)
	itWrite(t, dir, web, forking)
	itWrite(t, dir, api, forking)

	a, _ := itChildDaemon(t, dir, itDaemonOnlyEnv+"="+web)
	b, _ := itChildDaemon(t, dir, itDaemonExcludeEnv+"="+web)
	group := func(name string) (leader itProc, members []itProc) {
		st := itWaitStatus(t, dir, name, name+" running", itReady(1))
		leader = itRef(t, itPids(st)[0])
		return leader, itWaitGroup(t, leader.pid, 2)
	}
	webLeader, webProcs := group(web)
	apiLeader, apiProcs := group(api)
	waitfor.Condition(t, waitTimeout, func() bool {
		return ProgramOwner(state, web) == a.Process.Pid && ProgramOwner(state, api) == b.Process.Pid
	}, "each daemon to own its program")
	if pids := Daemons(state); len(pids) != 2 {
		t.Errorf("Daemons = %v, want the two", pids)
	}

	if err := b.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.Wait()
	itWaitGone(t, "api's leader (parent-death signal)", apiLeader)
	var apiChild itProc
	for _, p := range apiProcs {
		if p.pid != apiLeader.pid {
			apiChild = p
		}
	}
	if !apiChild.alive() {
		t.Fatalf("api's grandchild died with its daemon: the test proves nothing")
	}

	b2, b2log := itChildDaemon(t, dir, itDaemonExcludeEnv+"="+web)
	itWaitGone(t, "api's grandchild, after its daemon started again", apiChild)
	itWaitStatus(t, dir, api, "api running again", func(st status.ProgramStatus) bool {
		return itReady(1)(st) && itPids(st)[0] != apiLeader.pid
	})
	for _, p := range webProcs {
		if !p.alive() {
			t.Errorf("web's process %d was ended by the other daemon's start-up", p.pid)
		}
	}
	if st := itWaitStatus(t, dir, web, "web running", itReady(1)); itPids(st)[0] != webLeader.pid {
		t.Errorf("web-0 pid %d, was %d", itPids(st)[0], webLeader.pid)
	}
	if strings.Contains(b2log(), web) {
		t.Errorf("the --exclude daemon's log names web:\n%s", b2log())
	}

	for _, c := range []interface{ Signal(os.Signal) error }{a.Process, b2.Process} {
		if err := c.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Wait(); err != nil {
		t.Errorf("the --only daemon: %v", err)
	}
	if err := b2.Wait(); err != nil {
		t.Errorf("the --exclude daemon: %v", err)
	}
	itWaitGone(t, "every instance after both shut down", webProcs...)
	if held, _ := Held(state); held {
		t.Errorf("the directory is held after both daemons exited")
	}
}

// Two claims on one program (--only web twice): the second daemon refuses
// it with the owner's pid and touches nothing of it; a daemon without a
// filter is refused as a whole.
func TestITSecondClaimRefused(t *testing.T) {
	dir := t.TempDir()
	web := "web-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { itKillPrograms(web) })
	itWrite(t, dir, web, itSpec(`["sleep", "1000"]`))
	a, _ := itChildDaemon(t, dir, itDaemonOnlyEnv+"="+web)
	st := itWaitStatus(t, dir, web, "web running", itReady(1))
	leader := itRef(t, itPids(st)[0])
	ino, _ := itStatIno(t, status.StatusPath(dir, web))

	_, clog := itChildDaemon(t, dir, itDaemonOnlyEnv+"="+web)
	want := "pid " + strconv.Itoa(a.Process.Pid)
	waitfor.Condition(t, waitTimeout, func() bool {
		evs, _ := status.ReadEvents(dir, web)
		for _, ev := range evs {
			if ev.Reason == ReasonOwnedByOtherDaemon && ev.Type == status.EventWarning && strings.Contains(ev.Message, want) {
				return true
			}
		}
		return false
	}, "an OwnedByOtherDaemon warning naming the owner")
	if !strings.Contains(clog(), "Program owned by another daemon") || !strings.Contains(clog(), `"ownerPid"=`+strconv.Itoa(a.Process.Pid)) {
		t.Errorf("the refusal is not logged with the owner's pid:\n%s", clog())
	}
	if !leader.alive() {
		t.Errorf("web-0 was ended by the refused daemon")
	}
	if now, _ := itStatIno(t, status.StatusPath(dir, web)); now != ino {
		t.Errorf("the refused daemon rewrote web's status file")
	}
	if ProgramOwner(filepath.Join(dir, StateDirName), web) != a.Process.Pid {
		t.Errorf("the owner changed")
	}
	_, ulog := itChildDaemon(t, dir)
	waitfor.Condition(t, waitTimeout, func() bool {
		return strings.Contains(ulog(), "another reconciled daemon holds the directory (pid ")
	}, "a daemon without a filter to be refused as a whole")
}
