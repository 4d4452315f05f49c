package top

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// watchTimeout bounds each wait for the watcher; it answers far sooner.
const watchTimeout = 10 * time.Second

// The watcher reports, coalesced, which status, events and manifest files
// changed, the daemon's state directory, and the followed log files only.
func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, reconciler.StateDirName)
	w, err := newWatcher(dir, dir, stateDir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(t.Context())
	}()
	t.Cleanup(func() { <-done })

	// next gathers changes until want holds.
	next := func(what string, want func(c changes) bool) {
		t.Helper()
		var got changes
		deadline := time.After(watchTimeout)
		for {
			select {
			case c := <-w.out:
				merge(&got, c)
				if want(got) {
					return
				}
			case <-deadline:
				t.Fatalf("no change for %s; got %+v", what, got)
			}
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte("spec: {command: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next("a manifest", func(c changes) bool { return c.manifests })

	st := status.ProgramStatus{Metadata: status.Metadata{Name: "web"}}
	if _, err := status.WriteFile(dir, st); err != nil {
		t.Fatal(err)
	}
	next("a status file", func(c changes) bool { return c.statuses["web"] && !c.manifests })

	if err := status.AppendEvents(dir, "web", []status.Event{{Reason: "Started", Program: "web"}}); err != nil {
		t.Fatal(err)
	}
	next("an events file", func(c changes) bool { return c.events["web"] })

	if err := os.MkdirAll(filepath.Join(stateDir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	next("the state directory", func(c changes) bool { return c.daemon })

	followed := filepath.Join(stateDir, "logs", "web-0.stdout.log")
	other := filepath.Join(stateDir, "logs", "web-1.stdout.log")
	w.Follow([]string{followed})
	if err := os.WriteFile(other, []byte("not followed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(followed, []byte("followed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next("the followed log", func(c changes) bool {
		for _, l := range c.logs {
			if l == other {
				t.Fatalf("a log not followed was reported")
			}
		}
		return len(c.logs) == 1 && c.logs[0] == followed
	})
}

func merge(into *changes, c changes) {
	into.all = into.all || c.all
	into.manifests = into.manifests || c.manifests
	into.daemon = into.daemon || c.daemon
	for k := range c.statuses {
		if into.statuses == nil {
			into.statuses = map[string]bool{}
		}
		into.statuses[k] = true
	}
	for k := range c.events {
		if into.events == nil {
			into.events = map[string]bool{}
		}
		into.events[k] = true
	}
	into.logs = append(into.logs, c.logs...)
}
