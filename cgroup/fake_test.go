package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// A fake cgroup2 mount: a t.TempDir() laid out like /sys/fs/cgroup on a
// pure-v2 host, with the control files as plain files. It exercises the
// pure-v2 paths (controllers enabled in v2, memory.max, cpu.max, pids.max,
// memory.current, memory.events), which this hybrid machine cannot.

// fakeFiles returns the control files of every fake cgroup.
func fakeFiles() map[string]string {
	return map[string]string{
		fileControllers:   "cpuset cpu io memory pids\n",
		fileSubtree:       "",
		fileProcs:         "",
		fileEvents:        "populated 0\nfrozen 0\n",
		fileKill:          "",
		fileType:          "domain\n",
		fileCPUStat:       "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
		fileMemoryCurrent: "4096\n",
		fileMemoryEvents:  "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n",
		fileMemoryMax:     "max\n",
		fileCPUMax:        "max 100000\n",
		filePidsMax:       "max\n",
	}
}

func fakeCgroup(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func addControlFiles(dir string) error {
	for name, content := range fakeFiles() {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// fakeV2 returns a layout whose v2 hierarchy is a fake mount, with the
// daemon in /system.slice/r.service; offered is the service's
// cgroup.controllers.
func fakeV2(t *testing.T, offered string) Layout {
	t.Helper()
	mnt := t.TempDir()
	own := filepath.Join(mnt, "system.slice", "r.service")
	files := fakeFiles()
	files[fileControllers] = offered
	fakeCgroup(t, own, files)
	return Layout{V2: &Hierarchy{Mount: mnt, MountRoot: "/", Own: "/system.slice/r.service"}}
}

func openFake(t *testing.T, l Layout, o RootOptions) *Root {
	t.Helper()
	h := l.V2
	p, err := rootPath(h, o)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := h.Dir(p)
	r := &Root{layout: l, path: p, v2: dir, v1: map[string]string{}, ctrls: map[string]Controller{},
		refs: map[string]int{}, live: map[string]struct{}{}, afterMkdir: addControlFiles}
	if err := r.open(o); err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFakeV2Instance(t *testing.T) {
	l := fakeV2(t, "cpuset cpu io memory pids\n")
	r := openFake(t, l, RootOptions{Hash: "h1"})
	own, _ := l.V2.OwnDir()
	if want := filepath.Join(own, "reconciled-h1"); r.Dir() != want || r.Path() != "/system.slice/r.service/reconciled-h1" {
		t.Fatalf("root = %s (%s), want %s", r.Dir(), r.Path(), want)
	}
	want := []Controller{{Name: "memory", Version: V2}, {Name: "cpu", Version: V2}, {Name: "pids", Version: V2}}
	if got := r.Controllers(); !reflect.DeepEqual(got, want) {
		t.Errorf("Controllers = %+v, want %+v", got, want)
	}
	i, err := r.Create("web", 3, Resources{MemoryBytes: 64 << 20, CPUMillis: 500, Pids: 100})
	if err != nil {
		t.Fatal(err)
	}
	// Enabling walks from the daemon's cgroup down to NAME; the last write
	// of each subtree_control is the last controller.
	for _, d := range []string{own, r.Dir(), filepath.Join(r.Dir(), "web")} {
		if got := readFile(t, filepath.Join(d, fileSubtree)); got != "+pids" {
			t.Errorf("%s/cgroup.subtree_control = %q, want the chain enabled", d, got)
		}
	}
	dir := filepath.Join(r.Dir(), "web", "web-3")
	if i.Dir() != dir || i.Name() != "web-3" || i.Program() != "web" {
		t.Errorf("instance %s %s %s", i.Dir(), i.Name(), i.Program())
	}
	for file, want := range map[string]string{fileMemoryMax: "67108864", fileCPUMax: "50000 100000", filePidsMax: "100"} {
		if got := readFile(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if got, want := i.Procs(), []string{filepath.Join(dir, fileProcs)}; !reflect.DeepEqual(got, want) {
		t.Errorf("Procs = %v, want %v (no v1 on a pure-v2 host)", got, want)
	}
	fd, err := i.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		t.Errorf("OpenFD is not the directory: %v", err)
	}
	u, err := i.Usage()
	if err != nil || u != (Usage{CPU: 1500 * time.Millisecond, Memory: 4096, HasCPU: true, HasMemory: true}) {
		t.Errorf("Usage = %+v, %v", u, err)
	}
	if n, err := i.OOMKills(); n != 2 || err != nil {
		t.Errorf("OOMKills = %d, %v; want 2", n, err)
	}
	if pop, err := i.Populated(); pop || err != nil {
		t.Errorf("Populated = %v, %v", pop, err)
	}

	// A second daemon on the same tree finds the instance as a leftover.
	r2 := openFake(t, l, RootOptions{Hash: "h1"})
	ls, err := r2.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	if want := []Leftover{{Program: "web", Name: "web-3", Index: 3, Dirs: []string{dir}}}; !reflect.DeepEqual(ls, want) {
		t.Errorf("Leftovers = %+v, want %+v", ls, want)
	}
	if ls, _ := r.Leftovers(); len(ls) != 0 {
		t.Errorf("the live instance is a leftover of its own root: %+v", ls)
	}
	if _, err := r.Create("web", 3, Resources{}); err == nil {
		t.Error("Create of a live instance: no error")
	}
}

func TestFakeV2ControllerMissing(t *testing.T) {
	l := fakeV2(t, "cpu pids\n")
	r := openFake(t, l, RootOptions{Hash: "h1"})
	own, _ := l.V2.OwnDir()
	c := r.Controllers()[0]
	if c.Version != Unavailable || c.Why != "not in "+own+"/cgroup.controllers" {
		t.Errorf("memory = %+v", c)
	}
	err := r.Check(Resources{CPUMillis: 100, MemoryBytes: 1 << 20})
	want := "resources.memory: the memory controller is not available: not in " + own + "/cgroup.controllers"
	if err == nil || err.Error() != want {
		t.Fatalf("Check = %v, want %s", err, want)
	}
	var re *ResourceError
	if !errors.As(err, &re) || re.Controller != "memory" || re.Field != "resources.memory" || !errors.Is(err, ErrControllerUnavailable) {
		t.Errorf("Check error %#v is not a ResourceError wrapping ErrControllerUnavailable", err)
	}
	if _, err := r.Create("web", 0, Resources{MemoryBytes: 1}); err == nil || err.Error() != want {
		t.Errorf("Create = %v, want %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "web")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Create left a directory: %v", err)
	}
	i, err := r.Create("web", 0, Resources{CPUMillis: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(i.Dir(), fileCPUMax)); got != "1000 100000" {
		t.Errorf("cpu.max = %q, want the 1ms minimum quota", got)
	}
	if _, err := i.OOMKills(); !errors.Is(err, ErrNoMemoryCgroup) {
		t.Errorf("OOMKills without a memory controller = %v", err)
	}
	if u, err := i.Usage(); err != nil || u.HasMemory || !u.HasCPU {
		t.Errorf("Usage = %+v, %v; want CPU only", u, err)
	}
}

func TestFakeEnterLeaf(t *testing.T) {
	l := fakeV2(t, "memory\n")
	own, _ := l.V2.OwnDir()
	fakeCgroup(t, filepath.Join(own, "daemon"), map[string]string{fileProcs: ""})
	leaf, err := enterLeaf(l, RootOptions{Hash: "h"}, 4242)
	if err != nil || leaf != "/system.slice/r.service/daemon" {
		t.Fatalf("enterLeaf = %q, %v", leaf, err)
	}
	if got := readFile(t, filepath.Join(own, "daemon", fileProcs)); got != "4242" {
		t.Errorf("leaf cgroup.procs = %q", got)
	}
	// Already in the leaf, or a root elsewhere, or the hierarchy's root (the
	// fake mount's directory, without cgroup.type): no move.
	inLeaf := Layout{V2: &Hierarchy{Mount: l.V2.Mount, MountRoot: "/", Own: leaf}}
	atRoot := Layout{V2: &Hierarchy{Mount: l.V2.Mount, MountRoot: "/", Own: "/"}}
	for _, c := range []struct {
		l Layout
		o RootOptions
	}{{inLeaf, RootOptions{Hash: "h"}}, {l, RootOptions{Path: "/elsewhere"}}, {atRoot, RootOptions{Hash: "h"}}} {
		if leaf, err := enterLeaf(c.l, c.o, 4242); leaf != "" || err != nil {
			t.Errorf("enterLeaf(%s, %+v) = %q, %v; want no move", c.l.V2.Own, c.o, leaf, err)
		}
	}
	if _, err := OpenRoot(l, RootOptions{Path: "/system.slice"}); err == nil || !strings.Contains(err.Error(), "contains the daemon's own cgroup") {
		t.Errorf("OpenRoot of an ancestor of the daemon: %v", err)
	}
	if _, err := OpenRoot(Layout{}, RootOptions{Hash: "h"}); !errors.Is(err, ErrNoV2) {
		t.Errorf("OpenRoot without v2 = %v, want ErrNoV2", err)
	}
}

func TestFakeWatcher(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, fileEvents)
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(events, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := NewEmptyWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write("populated 0\n")
	if empty, err := w.watch(events, func() { t.Error("callback for a cgroup empty at Watch") }); !empty || err != nil {
		t.Fatalf("watch of an empty cgroup = %v, %v", empty, err)
	}
	write("populated 1\n")
	fired := make(chan struct{}, 2)
	if empty, err := w.watch(events, func() { fired <- struct{}{} }); empty || err != nil {
		t.Fatalf("watch = %v, %v", empty, err)
	}
	write("populated 1\nfrozen 1\n") // a change that is not the end
	write("populated 0\n")
	select {
	case <-fired:
	case <-time.After(time.Minute):
		t.Fatal("no callback after populated 0")
	}
	if w.Len() != 0 {
		t.Errorf("Len = %d after the callback, want 0", w.Len())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.watch(events, func() {}); err == nil {
		t.Error("watch after Close: no error")
	}
}

// TestFakeWatcherReadFails: a cgroup.events that cannot be read when it
// changes (the daemon out of file descriptors) is read again after a
// back-off, so its emptiness is not missed although no change follows.
func TestFakeWatcherReadFails(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, fileEvents)
	if err := os.WriteFile(events, []byte("populated 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := NewEmptyWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var mu sync.Mutex
	failing, failures := false, 0
	w.read = func(path, key string) (uint64, bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			failures++
			return 0, false, &fs.PathError{Op: "open", Path: path, Err: syscall.EMFILE}
		}
		return readKeyed(path, key)
	}
	fired := make(chan struct{}, 2)
	if empty, err := w.watch(events, func() { fired <- struct{}{} }); empty || err != nil {
		t.Fatalf("watch = %v, %v", empty, err)
	}
	mu.Lock()
	failing = true
	mu.Unlock()
	if err := os.WriteFile(events, []byte("populated 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The event comes, the read fails, the rechecks fail too for a while.
	waitfor.Condition(t, time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failures >= 3
	}, "the read of the change and two rechecks to fail")
	select {
	case <-fired:
		t.Fatal("a callback while the cgroup could not be read")
	default:
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	select {
	case <-fired:
	case <-time.After(time.Minute):
		t.Fatal("no callback once the cgroup could be read again")
	}
	if w.Len() != 0 {
		t.Errorf("Len = %d after the callback", w.Len())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
