package top

import (
	"os"
	"strings"
	"testing"
)

// E edits a copy: an invalid save shows located errors and places
// nothing; enter edits again; a valid save replaces the manifest; esc
// discards the copy.
func TestEdit(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.send(tea_window(120))
	before := f.readManifest("web")
	// The editor is run by the program from the command E returns; here the
	// test writes the copy and reports the editor's end itself.
	f.press("E")
	e := f.m.edit
	if e == nil || !strings.HasSuffix(e.tmp, ".yaml") {
		t.Fatalf("no edit session: %+v", e)
	}
	if b, _ := os.ReadFile(e.tmp); string(b) != before {
		t.Fatalf("the copy is not the manifest: %q", b)
	}
	save := func(text string) {
		t.Helper()
		if err := os.WriteFile(e.tmp, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		f.send(editedMsg{})
	}

	save("# kept comment\nspec:\n  command: [sleep, \"1000\"]\n  replicas: lots\n")
	f.wantScreen("not placed", "web.yaml:4:", "spec.replicas", "enter: edit again")
	if got := f.readManifest("web"); got != before {
		t.Fatalf("an invalid edit reached the manifest:\n%s", got)
	}
	f.press("enter")
	f.noScreen("not placed")
	save(strings.Replace(before, "replicas: 1", "replicas: 4", 1))
	if got := f.readManifest("web"); !strings.Contains(got, "replicas: 4") {
		t.Fatalf("a valid edit was not placed:\n%s", got)
	}
	f.wantScreen("web.yaml saved")
	if _, err := os.Stat(e.tmp); !os.IsNotExist(err) {
		t.Errorf("the copy is left: %v", err)
	}

	// Unchanged: nothing to do.
	f.press("E")
	f.send(editedMsg{})
	f.wantScreen("web.yaml: no change")

	// Discarded.
	f.press("E")
	e = f.m.edit
	save("spec: [")
	f.press("esc")
	f.wantScreen("edit discarded")
	if got := f.readManifest("web"); !strings.Contains(got, "replicas: 4") {
		t.Fatalf("a discarded edit changed the manifest:\n%s", got)
	}
}

// The manifest changed while it was edited (a scale from elsewhere): the
// edit is not placed over it; enter edits the copy again, and then it is.
func TestEditConflict(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.send(tea_window(160))
	f.press("E")
	e := f.m.edit
	f.writeManifest("web", manifestText(5))
	if err := os.WriteFile(e.tmp, []byte(manifestText(2)), 0o600); err != nil {
		t.Fatal(err)
	}
	f.send(editedMsg{})
	f.wantScreen("changed while you edited it")
	if got := f.readManifest("web"); !strings.Contains(got, "replicas: 5") {
		t.Fatalf("the edit went over a change:\n%s", got)
	}
	f.press("enter")
	f.send(editedMsg{})
	if got := f.readManifest("web"); !strings.Contains(got, "replicas: 2") {
		t.Fatalf("the second save was not placed:\n%s", got)
	}
}

// An invalid manifest can be fixed with E (the verbs refuse to edit it).
func TestEditFixesInvalid(t *testing.T) {
	f := newFixture(t, map[string]string{"web": "spec:\n  command: x\n  replicas: many\n"}, false)
	f.press("E")
	if err := os.WriteFile(f.m.edit.tmp, []byte("spec:\n  command: x\n  replicas: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.send(editedMsg{})
	if got := f.readManifest("web"); !strings.Contains(got, "replicas: 2") {
		t.Fatalf("the fix was not placed:\n%s", got)
	}
}
