package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// Dirs reads what Instance.Usage reads, from the directories alone.
func TestFakeDirsUsage(t *testing.T) {
	l := fakeV2(t, "cpuset cpu io memory pids\n")
	r := openFake(t, l, RootOptions{Hash: "h1"})
	i, err := r.Create("web", 0, Resources{})
	if err != nil {
		t.Fatal(err)
	}
	d := r.Dirs()
	if d.V2 != r.Dir() || len(d.V1) != 0 {
		t.Errorf("Dirs = %+v, want the v2 root only", d)
	}
	want := Usage{CPU: 1500 * time.Millisecond, Memory: 4096, HasCPU: true, HasMemory: true}
	if u, err := d.Usage("web", "web-0"); err != nil || u != want {
		t.Errorf("Dirs.Usage = %+v, %v; want %+v", u, err, want)
	}
	// Without memory.current (the memory controller not enabled): CPU only.
	if err := os.Remove(filepath.Join(i.Dir(), fileMemoryCurrent)); err != nil {
		t.Fatal(err)
	}
	if u, err := d.Usage("web", "web-0"); err != nil || u.HasMemory || u.CPU != want.CPU {
		t.Errorf("Dirs.Usage without memory.current = %+v, %v", u, err)
	}

	// Members: the cgroup and the ones a program made below it.
	if err := os.WriteFile(filepath.Join(i.Dir(), fileProcs), []byte("12\n13\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fakeCgroup(t, filepath.Join(i.Dir(), "nested"), map[string]string{fileProcs: "14\n"})
	if pids, err := d.Members("web", "web-0"); err != nil || !reflect.DeepEqual(pids, []int{12, 13, 14}) {
		t.Errorf("Members = %v, %v; want [12 13 14]", pids, err)
	}

	for _, name := range []string{"web-1", "..", "a/b", ""} {
		if _, err := d.Usage("web", name); err == nil {
			t.Errorf("Dirs.Usage of %q: no error", name)
		}
	}
	if _, err := d.Usage("web", "web-1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dirs.Usage of an instance without a cgroup = %v, want fs.ErrNotExist", err)
	}
	if _, err := d.Members("web", "web-1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Members of an instance without a cgroup = %v, want fs.ErrNotExist", err)
	}
	if _, err := (Dirs{}).Usage("web", "web-0"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Usage without a root = %v, want fs.ErrNotExist", err)
	}
}

// On the machine: a busy loop in a real instance cgroup; Dirs finds its
// CPU time and its member, and memory where the instance has a memory
// cgroup.
func TestRealDirsUsage(t *testing.T) {
	l := realLayout(t)
	for _, noMem := range []bool{false, true} {
		name := map[bool]string{false: "accounted", true: "noV1Memory"}[noMem]
		t.Run(name, func(t *testing.T) {
			r := realRoot(t, l, RootOptions{NoV1MemoryAccounting: noMem})
			i := create(t, r, "busy", 0, Resources{})
			// As the daemon's child does: into every cgroup of the
			// instance, v1 ones included, before exec.
			cmd := startEntering(t, i.Procs(), `sh -c 'while :; do :; done'`)
			d := r.Dirs()
			var u Usage
			waitfor.Condition(t, wait, func() bool {
				var err error
				u, err = d.Usage("busy", "busy-0")
				return err == nil && u.HasCPU && u.CPU > 0 && (!u.HasMemory || u.Memory > 0)
			}, "CPU time of the busy loop in %s", i.Dir())
			memory := r.Controllers()[0].Version
			wantMem := memory == V2 || memory == V1 && !noMem
			if u.HasMemory != wantMem || wantMem && u.Memory <= 0 {
				t.Errorf("Dirs.Usage = %+v with memory in %s (NoV1MemoryAccounting %v)", u, memory, noMem)
			}
			if iu, err := i.Usage(); err != nil || iu.HasMemory != u.HasMemory {
				t.Errorf("Instance.Usage = %+v, %v; Dirs.Usage = %+v", iu, err, u)
			}
			pids, err := d.Members("busy", "busy-0")
			if err != nil || !slices.Contains(pids, cmd.Process.Pid) {
				t.Errorf("Members = %v, %v; want pid %d", pids, err, cmd.Process.Pid)
			}
		})
	}
}
