package top

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// s stops a running program and starts a stopped one, editing only
// spec.desired (the comments stay); the change is followed in the status
// until the daemon has carried it out.
func TestActionStartStop(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(2)}, false)
	f.status("web", 2, 2, "")
	f.changed(changes{all: true})

	f.press("s")
	text := f.readManifest("web")
	if !strings.Contains(text, "desired: stopped") || !strings.Contains(text, "# kept comment") || !strings.Contains(text, "# how many") {
		t.Fatalf("manifest after s:\n%s", text)
	}
	f.wantScreen("web stopped")
	// The daemon picks the change up: the status shows it stopping.
	p, errs := spec.Parse("web.yaml", []byte(text))
	if errs != nil {
		t.Fatal(errs)
	}
	f.status("web", 2, 2, "", func(st *status.ProgramStatus) { st.Status.Desired = "stopped"; st.Status.SpecHash = spec.Hash(p) })
	f.changed(changes{statuses: map[string]bool{"web": true}})
	f.press("j") // any key clears the last outcome: the progress shows
	f.wantScreen("web stop: stopping, 2 running")
	f.status("web", 0, 0, "", func(st *status.ProgramStatus) {
		st.Status.Desired, st.Status.Phase, st.Status.SpecHash = "stopped", "Stopped", spec.Hash(p)
	})
	f.changed(changes{statuses: map[string]bool{"web": true}})
	f.wantScreen("web: stop done (stopped)", "STOPPED")

	f.press("s")
	if text := f.readManifest("web"); !strings.Contains(text, "desired: running") {
		t.Fatalf("manifest after the second s:\n%s", text)
	}
	f.wantScreen("web started")
}

// + and - scale by one; the status line shows "1/2 ready" until done.
func TestActionScale(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.status("web", 1, 1, "")
	f.changed(changes{all: true})
	f.press("+")
	if text := f.readManifest("web"); !strings.Contains(text, "replicas: 2   # how many") {
		t.Fatalf("manifest after +:\n%s", text)
	}
	f.wantScreen("web scaled to 2")
	p, _ := spec.Parse("web.yaml", []byte(f.readManifest("web")))
	hash := func(st *status.ProgramStatus) {
		st.Status.SpecHash = spec.Hash(p)
		for i := range st.Status.Instances {
			st.Status.Instances[i].SpecHash = spec.Hash(p)
		}
	}
	f.status("web", 2, 1, "STARTING", hash)
	f.changed(changes{statuses: map[string]bool{"web": true}})
	f.press("k")
	f.wantScreen("web scale: 1/2 ready")
	f.status("web", 2, 2, "", hash)
	f.changed(changes{statuses: map[string]bool{"web": true}})
	f.wantScreen("web: scale done (2/2 ready)")

	f.press("-", "-", "-")
	if text := f.readManifest("web"); !strings.Contains(text, "replicas: 0") {
		t.Fatalf("manifest after - - -:\n%s", text)
	}
	f.wantScreen("web unchanged (replicas: 0)")
}

// r restarts a program rolling: the restartedAt annotation changes.
func TestActionRestart(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.press("r")
	if text := f.readManifest("web"); !strings.Contains(text, spec.RestartedAtAnnotation) {
		t.Fatalf("manifest after r:\n%s", text)
	}
	f.wantScreen("web restarting")
	// An instance row restarts that instance through the daemon: none here.
	f.status("web", 1, 1, "")
	f.changed(changes{all: true})
	f.press("enter", "j", "r")
	f.wantScreen("web: no daemon holds the directory")
}

// d asks; only y deletes.
func TestActionDelete(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.press("d")
	f.wantScreen("delete web?", "y deletes")
	f.press("n")
	f.wantScreen("web kept")
	if _, err := os.Stat(filepath.Join(f.dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	f.press("d", "y")
	if _, err := os.Stat(filepath.Join(f.dir, "web.yaml")); !os.IsNotExist(err) {
		t.Fatalf("web.yaml after d y: %v", err)
	}
	f.wantScreen("web: delete done (deleted)", "no programs in")
}

// x opens the signal menu; the signal goes through the daemon's socket,
// and with no daemon the error is shown inline.
func TestActionSignalMenu(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.press("x")
	f.wantScreen("send a signal to every instance of web", "SIGHUP", "SIGUSR1")
	if l := f.line("SIGHUP"); !strings.HasPrefix(l, ">") {
		t.Errorf("first entry not chosen: %q", l)
	}
	f.press("j")
	if l := f.line("SIGUSR1"); !strings.HasPrefix(l, ">") {
		t.Errorf("j did not move: %q", l)
	}
	f.press("esc")
	f.noScreen("SIGUSR1")
	f.press("x", "j", "enter")
	f.wantScreen("web: no daemon holds the directory")
}

// An invalid manifest is never edited: the error says so inline.
func TestActionInvalidManifest(t *testing.T) {
	f := newFixture(t, map[string]string{"web": "spec:\n  command: x\n  replicas: many\n"}, false)
	f.send(tea_window(200))
	f.press("+")
	f.wantScreen("web.yaml is invalid, nothing was changed (E edits it)", "spec.replicas")
	if text := f.readManifest("web"); !strings.Contains(text, "replicas: many") {
		t.Fatalf("invalid manifest changed:\n%s", text)
	}
}
