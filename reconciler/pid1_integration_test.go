package reconciler

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/status"
)

// TestITPid1 runs the daemon as PID 1 of a new pid namespace, as in a
// container: it runs its instances, reaps the orphans they leave (nobody
// else would), and stops on SIGTERM (PID 1 has no default signal actions).
func TestITPid1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a pid namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	dir := t.TempDir()
	name := "pidone-" + strconv.Itoa(os.Getpid())
	t.Cleanup(func() { itKillPrograms(name) })
	// The subshell exits at once, so its sleep is orphaned and reparented to
	// PID 1, which must reap it when it exits 200ms later.
	itWrite(t, dir, name, itSpec(`["sh", "-c", "(sleep 0.2 &); exec sleep 1000"]`))

	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), itDaemonDirEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = waitTimeout // the namespace may hold the pipe a little longer
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}) // closed when unshare has been waited for
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	var daemon int
	t.Cleanup(func() {
		if daemon != 0 {
			_ = syscall.Kill(daemon, syscall.SIGKILL) // ends the whole namespace
		}
		_ = cmd.Process.Kill()
		<-done
	})

	// The daemon is unshare's only child; in its namespace it is pid 1.
	if !waitfor.Until(waitTimeout, func() bool {
		kids := itChildrenOf(cmd.Process.Pid)
		if len(kids) == 1 {
			daemon = kids[0]
		}
		return daemon != 0
	}) {
		t.Fatalf("no daemon under unshare:\n%s", out.String())
	}
	if ns := itNSpid(daemon); !strings.HasSuffix(ns, "\t1") {
		t.Fatalf("daemon NSpid %q, want pid 1 in its namespace", ns)
	}
	itWaitStatus(t, dir, name, "running", func(st status.ProgramStatus) bool {
		return st.Status.ReadyReplicas == 1
	})
	// Eventually the daemon's only child is the leader: the orphan was
	// reparented to it and reaped (not left a zombie).
	if !waitfor.Until(waitTimeout, func() bool {
		kids := itChildrenOf(daemon)
		return len(kids) == 1 && !itZombie(kids[0])
	}) {
		t.Fatalf("children of PID 1: %v (zombies: %v)", itChildrenOf(daemon), slices.DeleteFunc(itChildrenOf(daemon), func(p int) bool { return !itZombie(p) }))
	}

	if err := syscall.Kill(daemon, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("daemon as PID 1 exited with %v:\n%s", waitErr, out.String())
		}
	case <-time.After(waitTimeout):
		t.Fatalf("daemon as PID 1 did not exit on SIGTERM:\n%s", out.String())
	}
}

// itChildrenOf lists the direct children of pid from /proc.
func itChildrenOf(pid int) []int {
	var kids []int
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	for _, task := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

func itZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func itNSpid(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "NSpid:") {
			return line
		}
	}
	return ""
}
