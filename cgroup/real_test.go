package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
	"golang.org/x/sys/unix"
)

// Tests on the machine's real cgroups. They need root and a cgroup2
// mount, and skip with the reason otherwise; each makes a root of its own
// and removes every cgroup and process it made.

const wait = 30 * time.Second

// realLayout returns the machine's layout, or skips.
func realLayout(t *testing.T) Layout {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	l, err := Load()
	if err != nil {
		t.Skipf("no cgroups here: %v", err)
	}
	if l.V2 == nil {
		t.Skip("no cgroup2 hierarchy here (a pure-v1 host)")
	}
	return l
}

// testHash is a root name unique to this test binary and test.
func testHash(t *testing.T) string {
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return fmt.Sprintf("test%d-%s", os.Getpid(), name)
}

// realRoot opens a root for the test in the machine's hierarchy; at the
// end a second Root on the same path (as a restarted daemon would) removes
// what is left, and then the root.
func realRoot(t *testing.T, l Layout, o RootOptions) *Root {
	t.Helper()
	if o.Hash == "" && o.Path == "" {
		o.Hash = testHash(t)
	}
	r, err := OpenRoot(l, o)
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create cgroups here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Remove() // its descriptor; the directories go below
		r2, err := OpenRoot(l, o)
		if err != nil {
			t.Error(err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if _, err := r2.RemoveLeftovers(ctx); err != nil {
			t.Error(err)
		}
		if err := r2.Remove(); err != nil {
			t.Error(err)
		}
	})
	return r
}

func create(t *testing.T, r *Root, program string, index int, res Resources) *Instance {
	t.Helper()
	i, err := r.Create(program, index, res)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = i.Remove() })
	return i
}

// start runs argv cloned into the instance's v2 cgroup (clone3
// CLONE_INTO_CGROUP); it is killed and reaped at the end of the test.
func start(t *testing.T, i *Instance, argv ...string) *exec.Cmd {
	t.Helper()
	fd, err := i.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd) // the child has entered by the time Start returns
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return run(t, cmd)
}

// startEntering runs a shell that writes itself into each of procs and
// then execs script: the path of a child that enters its cgroups itself
// before exec.
func startEntering(t *testing.T, procs []string, script string) *exec.Cmd {
	t.Helper()
	args := append([]string{"-c", `for f do echo 0 > "$f" || exit 111; done; exec ` + script, "sh"}, procs...)
	return run(t, exec.Command("sh", args...))
}

// startIn runs argv cloned into the cgroup directory dir.
func startIn(t *testing.T, dir string, argv ...string) *exec.Cmd {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	return run(t, cmd)
}

func run(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func members(t *testing.T, procs string) []int {
	t.Helper()
	pids, err := readPids(procs)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// watchEmpty watches i and returns a channel closed by the callback.
func watchEmpty(t *testing.T, w *EmptyWatcher, i *Instance) <-chan struct{} {
	t.Helper()
	fired := make(chan struct{})
	empty, err := w.Watch(i, func() { close(fired) })
	if err != nil {
		t.Fatal(err)
	}
	if empty {
		t.Fatal("Watch: the cgroup is empty already")
	}
	return fired
}

func waitFired(t *testing.T, fired <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-fired:
	case <-time.After(wait):
		t.Fatalf("timed out after %v waiting for %s", wait, what)
	}
}

func newWatcher(t *testing.T) *EmptyWatcher {
	t.Helper()
	w, err := NewEmptyWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func TestRealLoad(t *testing.T) {
	l := realLayout(t)
	dir, ok := l.V2.OwnDir()
	if !ok {
		t.Fatalf("own v2 cgroup %s outside %s", l.V2.Own, l.V2.Mount)
	}
	if pids := members(t, filepath.Join(dir, fileProcs)); !slices.Contains(pids, os.Getpid()) {
		t.Errorf("this process is not in %s", dir)
	}
	if h := l.V1[ctrlMemory]; h != nil {
		dir, _ := h.OwnDir()
		if pids := members(t, filepath.Join(dir, fileProcs)); !slices.Contains(pids, os.Getpid()) {
			t.Errorf("this process is not in %s", dir)
		}
	}
	t.Logf("v2 at %s, own %s; v1: %d controllers", l.V2.Mount, l.V2.Own, len(l.V1))
}

func TestRealKill(t *testing.T) {
	for _, mode := range []string{"cgroup.kill", "member by member"} {
		t.Run(mode, func(t *testing.T) {
			l := realLayout(t)
			r := realRoot(t, l, RootOptions{})
			if mode == "cgroup.kill" && !r.hasKill {
				t.Skip("this kernel has no cgroup.kill (Linux 5.14)")
			}
			r.hasKill = mode == "cgroup.kill"
			i := create(t, r, "kill", 0, Resources{})
			cmd := start(t, i, "sh", "-c", "setsid sleep 1000 & exec sleep 1000")
			procs := filepath.Join(i.Dir(), fileProcs)
			waitfor.Condition(t, wait, func() bool { return len(members(t, procs)) == 2 }, "the leader and its setsid child in %s", procs)
			// A cgroup the program made below its own, with a process.
			sub := filepath.Join(i.Dir(), "sub")
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			nested := startIn(t, sub, "sleep", "1000")
			if pop, err := i.Populated(); !pop || err != nil {
				t.Fatalf("Populated = %v, %v", pop, err)
			}
			fired := watchEmpty(t, newWatcher(t), i)
			if err := i.Kill(); err != nil {
				t.Fatal(err)
			}
			waitFired(t, fired, "the empty callback after Kill")
			if pop, err := i.Populated(); pop || err != nil {
				t.Errorf("Populated after the callback = %v, %v", pop, err)
			}
			for _, c := range []*exec.Cmd{cmd, nested} {
				if err := c.Wait(); !isSignal(err, syscall.SIGKILL) {
					t.Errorf("%v ended with %v, want SIGKILL", c.Args, err)
				}
			}
			if err := i.Remove(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Dir(i.Dir())); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("program directory left after its last instance: %v", err)
			}
		})
	}
}

func isSignal(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

func TestRealSignal(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	i := create(t, r, "sig", 0, Resources{})
	w := newWatcher(t)
	cmd := start(t, i, "sh", "-c", "setsid sleep 1000 & exec sleep 1000")
	procs := filepath.Join(i.Dir(), fileProcs)
	waitfor.Condition(t, wait, func() bool { return len(members(t, procs)) == 2 }, "two members in %s", procs)
	fired := watchEmpty(t, w, i)
	if err := i.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFired(t, fired, "the empty callback after SIGTERM to every member")
	if err := cmd.Wait(); !isSignal(err, syscall.SIGTERM) {
		t.Errorf("leader ended with %v, want SIGTERM", err)
	}
	// Unwatch of a watch that fired reports false; of a live one, true.
	if w.Unwatch(i) {
		t.Error("Unwatch after the callback reported a watch")
	}
	j := create(t, r, "sig", 1, Resources{})
	start(t, j, "sleep", "1000")
	waitfor.Condition(t, wait, func() bool { p, _ := j.Populated(); return p }, "a member in %s", j.Dir())
	if _, err := w.Watch(j, func() { t.Error("callback after Unwatch") }); err != nil {
		t.Fatal(err)
	}
	if !w.Unwatch(j) || w.Len() != 0 {
		t.Errorf("Unwatch of a live watch: Len %d", w.Len())
	}
	if err := j.Kill(); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, wait, func() bool { p, _ := j.Populated(); return !p }, "%s empty", j.Dir())
}

func TestRealLimitsAndUsage(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	res := Resources{MemoryBytes: 32 << 20, CPUMillis: 200, Pids: 50}
	for _, c := range r.Controllers() {
		t.Logf("controller %s: %s %s", c.Name, c.Version, c.Why)
		if c.Version == Unavailable {
			t.Skipf("controller %s is not available here: %s", c.Name, c.Why)
		}
	}
	i := create(t, r, "lim", 1, res)
	// The path without clone3: the child writes itself into every cgroup.
	cmd := startEntering(t, i.Procs(), "sleep 1000")
	for _, p := range i.Procs() {
		waitfor.Condition(t, wait, func() bool { return slices.Contains(members(t, p), cmd.Process.Pid) }, "pid %d in %s", cmd.Process.Pid, p)
	}
	want := map[string]map[Version][2]string{
		ctrlMemory: {V2: {fileMemoryMax, "33554432"}, V1: {fileV1MemoryLimit, "33554432"}},
		ctrlCPU:    {V2: {fileCPUMax, "20000 100000"}, V1: {fileV1CFSQuota, "20000"}},
		ctrlPids:   {V2: {filePidsMax, "50"}, V1: {filePidsMax, "50"}},
	}
	for _, c := range r.Controllers() {
		dir := i.Dir()
		if c.Version == V1 {
			dir = i.v1[c.Name]
			if !slices.Contains(i.Procs(), filepath.Join(dir, fileProcs)) {
				t.Errorf("Procs %v lacks the v1 %s cgroup", i.Procs(), c.Name)
			}
		}
		f := want[c.Name][c.Version]
		if got := strings.TrimSpace(readFile(t, filepath.Join(dir, f[0]))); got != f[1] {
			t.Errorf("%s/%s = %q, want %q", dir, f[0], got, f[1])
		}
	}
	u, err := i.Usage()
	if err != nil || !u.HasCPU || !u.HasMemory || u.Memory <= 0 {
		t.Errorf("Usage = %+v, %v; want CPU and a memory figure", u, err)
	}
	if n, err := i.OOMKills(); n != 0 || err != nil {
		t.Errorf("OOMKills = %d, %v; want 0", n, err)
	}
	if err := i.Kill(); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, wait, func() bool { p, _ := i.Populated(); return !p }, "%s empty", i.Dir())
	_ = cmd.Wait()
	if err := i.Remove(); err != nil {
		t.Fatal(err)
	}
	for _, p := range i.Procs() {
		if _, err := os.Stat(filepath.Dir(p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Remove: %v", filepath.Dir(p), err)
		}
	}
}

func TestRealCPUUsage(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	i := create(t, r, "busy", 0, Resources{})
	cmd := start(t, i, "sh", "-c", `i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done`)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	u, err := i.Usage()
	if err != nil || !u.HasCPU || u.CPU <= 0 {
		t.Errorf("Usage after a busy loop = %+v, %v; want some CPU time", u, err)
	}
}

func TestRealOOMKill(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	if c := r.Controllers()[0]; c.Version == Unavailable {
		t.Skipf("no memory controller here: %s", c.Why)
	}
	i := create(t, r, "hog", 0, Resources{MemoryBytes: 16 << 20})
	// dd fills a 64 MiB buffer: more than the limit, in one process.
	cmd := startEntering(t, i.Procs(), "dd if=/dev/zero of=/dev/null bs=64M count=1")
	err := cmd.Wait()
	if err == nil {
		t.Skip("dd ran to the end under a 16 MiB limit (swap?): no OOM kill to count")
	}
	if !isSignal(err, syscall.SIGKILL) {
		t.Fatalf("dd ended with %v, want the OOM killer's SIGKILL", err)
	}
	waitfor.Condition(t, wait, func() bool { n, _ := i.OOMKills(); return n >= 1 }, "an OOM kill counted")
}

func TestRealLeftovers(t *testing.T) {
	l := realLayout(t)
	o := RootOptions{Hash: testHash(t)}
	r := realRoot(t, l, o)
	var cmds []*exec.Cmd
	for _, x := range []struct {
		program string
		index   int
	}{{"a", 0}, {"a", 1}, {"b", 7}} {
		i := create(t, r, x.program, x.index, Resources{})
		cmds = append(cmds, start(t, i, "sh", "-c", "setsid sleep 1000 & exec sleep 1000"))
		procs := filepath.Join(i.Dir(), fileProcs)
		waitfor.Condition(t, wait, func() bool { return len(members(t, procs)) == 2 }, "two members in %s", procs)
	}
	// A daemon that starts after this one died sees all three.
	r2, err := OpenRoot(l, o)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := r2.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ls {
		got = append(got, fmt.Sprintf("%s/%s:%d:%d", x.Program, x.Name, x.Index, len(x.Dirs)))
	}
	dirs := 1
	if r2.Controllers()[0].Version == V1 {
		dirs = 2 // and the v1 memory cgroup
	}
	want := []string{fmt.Sprintf("a/a-0:0:%d", dirs), fmt.Sprintf("a/a-1:1:%d", dirs), fmt.Sprintf("b/b-7:7:%d", dirs)}
	if !slices.Equal(got, want) {
		t.Errorf("Leftovers = %v, want %v", got, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := r2.RemoveLeftovers(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); !isSignal(err, syscall.SIGKILL) {
			t.Errorf("leader ended with %v, want SIGKILL", err)
		}
	}
	for _, root := range r2.allRoots() {
		if names, err := readSubdirs(root); len(names) != 0 || err != nil {
			t.Errorf("%s still holds %v (%v)", root, names, err)
		}
	}
}

func TestRealEnterLeaf(t *testing.T) {
	l := realLayout(t)
	own := filepath.Join(l.V2.Own, "reconciled-"+testHash(t))
	dir, _ := l.V2.Dir(own)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a cgroup here: %v", err)
	}
	t.Cleanup(func() {
		for _, d := range []string{filepath.Join(dir, "daemon"), dir} {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Error(err)
			}
		}
	})
	cmd := startIn(t, dir, "sleep", "1000")
	// A layout as the sleeping "daemon" would see it.
	dl := Layout{V2: &Hierarchy{Mount: l.V2.Mount, MountRoot: l.V2.MountRoot, Own: own}}
	leaf, err := enterLeaf(dl, RootOptions{Hash: "x"}, cmd.Process.Pid)
	if err != nil || leaf != own+"/daemon" {
		t.Fatalf("enterLeaf = %q, %v", leaf, err)
	}
	self, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	if err != nil || !strings.Contains(string(self), "0::"+leaf+"\n") {
		t.Errorf("the process's cgroups are %q (%v), want %s", self, err, leaf)
	}
	if pids := members(t, filepath.Join(dir, fileProcs)); len(pids) != 0 {
		t.Errorf("%s still has processes %v", dir, pids)
	}
	r := realRoot(t, dl, RootOptions{Hash: "x"})
	if r.Path() != own+"/reconciled-x" {
		t.Errorf("root %s, want a sibling of the leaf", r.Path())
	}
	i := create(t, r, "p", 0, Resources{})
	start(t, i, "sleep", "1000")
	waitfor.Condition(t, wait, func() bool { p, _ := i.Populated(); return p }, "a member in %s", i.Dir())
}

func TestRealPrivateMount(t *testing.T) {
	l := realLayout(t)
	mnt := t.TempDir()
	if err := unix.Mount("none", mnt, "cgroup2", 0, ""); err != nil {
		t.Skipf("cannot mount a cgroup2 here: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Error(err)
		}
	})
	ml := Layout{V2: &Hierarchy{Mount: mnt, MountRoot: "/", Own: l.V2.Own}}
	r := realRoot(t, ml, RootOptions{})
	if !strings.HasPrefix(r.Dir(), mnt+"/") {
		t.Fatalf("root %s is not under the private mount %s", r.Dir(), mnt)
	}
	i := create(t, r, "m", 0, Resources{})
	start(t, i, "sleep", "1000")
	waitfor.Condition(t, wait, func() bool { p, _ := i.Populated(); return p }, "a member in %s", i.Dir())
	fired := watchEmpty(t, newWatcher(t), i)
	if err := i.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFired(t, fired, "the empty callback through a private mount")
}

// A cgroup left from an earlier run is made fresh when empty, and refused
// while it has processes.
func TestRealCreateOverLeftover(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	old := filepath.Join(r.Dir(), "p", "p-0")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	i := create(t, r, "p", 0, Resources{})
	if err := i.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	startIn(t, old, "sleep", "1000")
	if _, err := r.Create("p", 0, Resources{}); err == nil || !strings.Contains(err.Error(), "left from an earlier run") {
		t.Errorf("Create over a populated leftover = %v", err)
	}
	if ls, err := r.Leftovers(); err != nil || len(ls) != 1 || ls[0].Name != "p-0" {
		t.Errorf("Leftovers = %+v, %v", ls, err)
	}
}

// TestRealManyMembers: a cgroup.procs longer than the reader's first
// buffer is read whole (a seq_file returns it in several reads), and
// SignalExcept reaches every member outside the skipped set.
func TestRealManyMembers(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	i := create(t, r, "many", 0, Resources{})
	const n = 300 // about 2 KB of pids: four times the first buffer
	start(t, i, "sh", "-c", "i=0; while [ $i -lt 300 ]; do setsid sleep 1000 & i=$((i+1)); done; exec sleep 1000")
	procs := filepath.Join(i.Dir(), fileProcs)
	waitfor.Condition(t, wait, func() bool { return len(members(t, procs)) == n+1 }, "%d members in %s", n+1, procs)
	if err := i.SignalExcept(unix.SIGKILL, nil); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, wait, func() bool { p, _ := i.Populated(); return !p }, "%s empty", i.Dir())
}

// TestRealAfterRootRemove: once Remove has closed the root's descriptor,
// an instance's files are still found, by their full paths.
func TestRealAfterRootRemove(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	i := create(t, r, "late", 0, Resources{})
	_ = r.Remove() // fails (not empty), but closes the descriptor
	if r.hasFD {
		t.Fatal("Remove left the root's descriptor open")
	}
	if p, err := i.Populated(); err != nil || p {
		t.Fatalf("Populated after the root's Remove = %v, %v; want false, nil", p, err)
	}
	if err := i.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(i.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("instance dir after Remove: %v", err)
	}
}

// RemoveEmpty leaves a cgroup with a process as it is, and removes one
// whose only process has exited, unreaped (a zombie counts for nothing).
func TestRealRemoveEmpty(t *testing.T) {
	l := realLayout(t)
	r := realRoot(t, l, RootOptions{})
	i := create(t, r, "empty", 0, Resources{})
	cmd := start(t, i, "sleep", "1000")
	if empty, err := i.RemoveEmpty(); empty || err != nil {
		t.Fatalf("RemoveEmpty with a process in it = %v, %v", empty, err)
	}
	if _, err := os.Stat(i.Dir()); err != nil {
		t.Fatalf("the cgroup is gone: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, wait, func() bool {
		pop, err := i.Populated()
		return err == nil && !pop
	}, "populated 0 with the leader a zombie")
	if empty, err := i.RemoveEmpty(); !empty || err != nil {
		t.Fatalf("RemoveEmpty of an empty cgroup = %v, %v", empty, err)
	}
	if _, err := os.Stat(i.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cgroup is still there: %v", err)
	}
	if err := cmd.Wait(); !isSignal(err, syscall.SIGTERM) {
		t.Errorf("sleep ended with %v, want SIGTERM", err)
	}
	if err := i.Remove(); err != nil {
		t.Errorf("Remove after RemoveEmpty: %v", err)
	}
	if empty, err := i.RemoveEmpty(); !empty || err != nil {
		t.Errorf("RemoveEmpty again = %v, %v", empty, err)
	}
}
