package change

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ScaleBy counts from what the edit read, within 0 and MaxReplicas, so
// that edits at once all count; comments stay.
func TestScaleBy(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "web", "spec:\n  command: x\n  replicas: 1 # how many\n")
	d := manifest.NewDir(dir)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := ScaleBy(d, "web", 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r, err := ScaleBy(d, "web", 0)
	if err != nil || r.Program.Spec.Replicas != 6 || r.Changed {
		t.Fatalf("after five +1: %+v %v", r, err)
	}
	if r, _ = ScaleBy(d, "web", -100); r.Program.Spec.Replicas != 0 {
		t.Errorf("-100: %d", r.Program.Spec.Replicas)
	}
	if r, _ = ScaleBy(d, "web", MaxReplicas+5); r.Program.Spec.Replicas != MaxReplicas {
		t.Errorf("past the most: %d", r.Program.Spec.Replicas)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "web.yaml"))
	if !strings.Contains(string(b), "# how many") {
		t.Errorf("comment lost:\n%s", b)
	}
}

// Two restarts within one second still change the spec hash.
func TestRestartTwiceInASecond(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "web", "spec:\n  command: x\n")
	d := manifest.NewDir(dir)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	a, err := Restart(d, "web", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Restart(d, "web", now.Add(time.Millisecond))
	if err != nil || !b.Changed || spec.Hash(a.Program) == spec.Hash(b.Program) {
		t.Fatalf("second restart: %+v %v", b, err)
	}
	if _, err := SetDesired(d, "web", spec.DesiredStopped); err != nil {
		t.Fatal(err)
	}
	if err := Delete(d, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := Scale(d, "web", 2); err == nil {
		t.Error("scale of a deleted manifest succeeded")
	}
}
