package reconciler

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// The last valid spec outlives the reconciler: a new one that finds the
// manifest invalid runs the kept copy (SpecValid False); a program never
// valid runs nothing; an unchanged copy is not rewritten; a deleted
// manifest's copy goes, and so do copies of manifests deleted while no
// reconciler ran.
func TestLastGoodSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	lg := filepath.Join(t.TempDir(), "lastgood")
	copyOf := func(name string) string { return filepath.Join(lg, name+".yaml") }

	c := startCtrl(t, dir, Options{LastGoodDir: lg}, nil)
	c.write("x", trustBody+"  replicas: 2\n", 0o644)
	c.write("gone", trustBody, 0o644)
	c.rescan()
	good, _ := spec.Parse("x.yaml", []byte(trustBody+"  replicas: 2\n"))
	c.running("x", 2)
	c.running("gone", 1)
	// The pass writes the copies after it told the programs.
	waitfor.Condition(t, waitTimeout, func() bool {
		_, errX := os.Stat(copyOf("x"))
		_, errGone := os.Stat(copyOf("gone"))
		return errX == nil && errGone == nil
	}, "copies written")
	data, err := os.ReadFile(copyOf("x"))
	if err != nil || string(data) != trustBody+"  replicas: 2\n" {
		t.Fatalf("copy of x: %q, %v", data, err)
	}
	for path, want := range map[string]os.FileMode{lg: 0o700 | fs.ModeDir, copyOf("x"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, fi.Mode(), want, err)
		}
	}
	before := inode(t, copyOf("x"))
	c.stop()

	// While no reconciler runs: x turns invalid, gone is deleted, y comes
	// invalid, and a crash left a temp file.
	c.write("x", "spec: [", 0o644)
	if err := os.Remove(filepath.Join(dir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	c.write("y", "spec: {replicas: many}", 0o644)
	temp := filepath.Join(lg, ".x.yaml.tmp-123")
	if err := os.WriteFile(temp, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	c = startCtrl(t, dir, Options{LastGoodDir: lg}, nil)
	c.specValid("x", status.ConditionFalse, "Invalid", "x.yaml:")
	if h := c.running("x", 2); h[0] != spec.Hash(good) || h[1] != spec.Hash(good) {
		t.Errorf("x does not run its last valid spec")
	}
	c.specValid("y", status.ConditionFalse, "Invalid", "spec.replicas")
	if st := c.sink.get("y").Status; len(st.Instances) != 0 {
		t.Errorf("y, never valid, runs %d instances", len(st.Instances))
	}
	for _, p := range []string{copyOf("gone"), temp, copyOf("y")} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want it gone", p, err)
		}
	}

	// Fixed with the same content: the copy is not rewritten.
	c.write("x", trustBody+"  replicas: 2\n", 0o644)
	c.rescan()
	c.specValid("x", status.ConditionTrue, "Valid", "")
	if len(c.starter.all()) != 2 {
		t.Errorf("fixing x restarted its instances: %d starts", len(c.starter.all()))
	}
	// Two more triggers: the second goes in only once the loop took the
	// first, after the fixing pass, copies included, was over.
	c.rescan()
	c.rescan()
	if inode(t, copyOf("x")) != before {
		t.Errorf("the unchanged copy was rewritten")
	}
	// A changed valid spec is kept; a deleted manifest's copy goes.
	c.write("x", trustBody+"  replicas: 1\n", 0o644)
	c.rescan()
	waitfor.Condition(t, waitTimeout, func() bool {
		data, _ := os.ReadFile(copyOf("x"))
		return string(data) == trustBody+"  replicas: 1\n"
	}, "the new valid spec kept")
	if err := os.Remove(filepath.Join(dir, "x.yaml")); err != nil {
		t.Fatal(err)
	}
	c.rescan()
	waitfor.Condition(t, waitTimeout, func() bool { _, err := os.Lstat(copyOf("x")); return errors.Is(err, fs.ErrNotExist) }, "x's copy removed")
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
