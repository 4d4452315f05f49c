package top

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A manifest that changed within racyWindow of its read is not kept: a
// write in place of the same size in the same clock tick would leave its
// identity unchanged, and the view would show the old parse. An older one
// is kept, so that a refresh parses only what changed.
func TestReadManifestsRacyRule(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.yaml")
	write := func(cmd string) {
		t.Helper()
		data := "apiVersion: reconciled.dev/v1\nkind: Program\nmetadata: {name: web}\nspec:\n  command: [\"" + cmd + "\"]\n"
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	command := func(s *source) string {
		t.Helper()
		p := s.specs["web"]
		if p == nil || p.spec == nil {
			t.Fatalf("web: no parse (%v)", p)
		}
		return p.spec.Spec.Command[0]
	}

	write("/bin/aaaa")
	s := newSource(dir, dir, nil)
	if err := s.readManifests(); err != nil {
		t.Fatal(err)
	}
	if _, kept := s.parsed[path]; kept {
		t.Errorf("a manifest written just now was kept: a same-size write in the same tick would go unseen")
	}
	if got := command(s); got != "/bin/aaaa" {
		t.Errorf("command %q, want /bin/aaaa", got)
	}

	// Written in place, same size, same modification time.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	write("/bin/bbbb")
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := s.readManifests(); err != nil {
		t.Fatal(err)
	}
	if got := command(s); got != "/bin/bbbb" {
		t.Errorf("after a same-size write: command %q, want /bin/bbbb", got)
	}

	// Seen from later than the window: kept, and not parsed again.
	s.now = func() time.Time { return time.Now().Add(2 * racyWindow) }
	if err := s.readManifests(); err != nil {
		t.Fatal(err)
	}
	kept, ok := s.parsed[path]
	if !ok {
		t.Fatalf("a manifest older than the window was not kept")
	}
	if err := s.readManifests(); err != nil {
		t.Fatal(err)
	}
	if s.specs["web"] != kept.p {
		t.Errorf("an unchanged manifest older than the window was parsed again")
	}
}
