package reconciler

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/reconciled/reconciled/internal/waitfor"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// The command is looked up once per spec: a second start of the same spec
// takes the remembered path, a new spec (or PATH, or working directory)
// looks again, and forget drops what was remembered.
func TestCommandPathsOncePerSpec(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeScript(t, filepath.Join(b, "hello"), "true")
	env := []string{"PATH=" + a + ":" + b}
	var c commandPaths
	p1 := &spec.Program{Metadata: spec.Metadata{Name: "x"}}
	lookup := func(p *spec.Program, env []string, dir string) (string, bool) {
		t.Helper()
		path, cached, err := c.resolve(p, "hello", env, dir)
		if err != nil {
			t.Fatal(err)
		}
		return path, cached
	}
	if path, cached := lookup(p1, env, ""); path != filepath.Join(b, "hello") || cached {
		t.Fatalf("first lookup: %s (cached %v)", path, cached)
	}
	// One earlier on PATH appears: the spec keeps what it found.
	writeScript(t, filepath.Join(a, "hello"), "true")
	if path, cached := lookup(p1, env, ""); path != filepath.Join(b, "hello") || !cached {
		t.Errorf("second lookup: %s (cached %v), want the remembered one", path, cached)
	}
	p2 := &spec.Program{Metadata: spec.Metadata{Name: "x"}}
	if path, cached := lookup(p2, env, ""); path != filepath.Join(a, "hello") || cached {
		t.Errorf("new spec: %s (cached %v), want a new lookup", path, cached)
	}
	if _, cached := lookup(p2, []string{"PATH=" + b}, ""); cached {
		t.Error("another PATH took the remembered path")
	}
	if _, cached := lookup(p2, []string{"PATH=" + b}, b); cached {
		t.Error("another working directory took the remembered path")
	}
	lookup(p2, env, "")
	c.forget(p2)
	if _, cached := lookup(p2, env, ""); cached {
		t.Error("forget kept the path")
	}
	// A failed lookup is not remembered.
	c.forget(p2)
	if _, _, err := c.resolve(p2, "nope", env, ""); !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("resolve nope: %v, want not found", err)
	}
	if e, ok := c.m["x"]; ok {
		t.Errorf("a failed lookup left %+v", e)
	}
}

// A command moved to another PATH directory while its spec runs: the next
// start finds it there at once, rather than failing with the remembered path.
func TestITCommandMoved(t *testing.T) {
	d := itStart(t, itOpts{})
	a, b := t.TempDir(), t.TempDir()
	writeScript(t, filepath.Join(a, "hello"), "echo from-a; exec sleep 1000")
	name := d.name("moved")
	itWrite(t, d.dir, name, itSpec("[hello]", "startSeconds: 0s", "restartDelay: 0s",
		fmt.Sprintf("env: {PATH: %q}", a+":"+b+":"+os.Getenv("PATH"))))
	st := itWaitStatus(t, d.dir, name, "the instance runs", itReady(1))
	log := filepath.Join(d.dir, StateDirName, "logs", name+"-0.stdout.log")
	if !waitfor.Until(waitTimeout, func() bool { b, _ := os.ReadFile(log); return string(b) == "from-a\n" }) {
		t.Fatal("no output from the first start")
	}
	if err := os.Remove(filepath.Join(a, "hello")); err != nil {
		t.Fatal(err)
	}
	writeScript(t, filepath.Join(b, "hello"), "echo from-b; exec sleep 1000")
	pid := itPids(st)[0]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitfor.Until(waitTimeout, func() bool { b, _ := os.ReadFile(log); return string(b) == "from-a\nfrom-b\n" }) {
		b, _ := os.ReadFile(log)
		t.Fatalf("log %q, want the restart from the new place", b)
	}
	itWaitStatus(t, d.dir, name, "the restarted instance runs", func(st status.ProgramStatus) bool {
		return itReady(1)(st) && itPids(st)[0] != pid
	})
	for _, ev := range itEvents(t, d.dir, name) {
		if strings.Contains(ev.Message, "start failed") {
			t.Errorf("event %q: the restart failed once", ev.Message)
		}
	}
}
