package reconciler

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

const scanBody = "spec:\n  command: [sleep, \"100\"]\n"

// TestScan: the scanner reports what the manifest store lists: one result
// per program name, duplicates as errors, bad names apart, a FIFO as an
// error (NotRegularFile) without reading it, and directories not at all.
func TestScan(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"web.yaml": scanBody, "db.yaml": scanBody, "db.yml": scanBody, "Bad.yaml": scanBody,
		"broken.yml": "spec: [", "web.status.yaml": "x", ".hidden.yaml": scanBody,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &scanner{dir: dir, cache: map[string]cacheEntry{}}
	found, bad, err := s.scan()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range found {
		names = append(names, n)
	}
	slices.Sort(names)
	if want := []string{"broken", "db", "pipe", "web"}; !slices.Equal(names, want) {
		t.Errorf("found %v, want %v", names, want)
	}
	if !slices.Equal(bad, []string{"Bad.yaml"}) {
		t.Errorf("bad %v", bad)
	}
	if r := found["web"]; r.prog == nil || r.hash != spec.Hash(r.prog) || r.err != nil {
		t.Errorf("web: %+v", r)
	}
	if r := found["db"]; r.err == nil || r.err.Error() != "db: both db.yaml and db.yml exist: keep one" {
		t.Errorf("db: %v", r.err)
	}
	if r := found["broken"]; r.prog != nil || r.err == nil || !strings.HasPrefix(r.err.Error(), "broken.yml:") {
		t.Errorf("broken: %+v", r)
	}
	if r := found["pipe"]; r.prog != nil || invalidReason(r.err) != manifest.ReasonNotRegularFile {
		t.Errorf("pipe: %+v", r)
	}
}

// TestScanCache: a file is decoded again only when its key changes, and a
// file that is gone leaves the cache.
func TestScanCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(path, []byte(scanBody), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &scanner{dir: dir, cache: map[string]cacheEntry{}}
	first, _, _ := s.scan()
	again, _, _ := s.scan()
	if first["web"].prog == nil || again["web"].prog != first["web"].prog {
		t.Error("an unchanged file was decoded again")
	}
	if err := os.WriteFile(path, []byte(scanBody+"  replicas: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, _, _ := s.scan()
	if p := changed["web"].prog; p == nil || p.Spec.Replicas != 2 {
		t.Errorf("a changed file was not read again: %+v", changed["web"])
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if gone, _, _ := s.scan(); len(gone) != 0 || len(s.cache) != 0 {
		t.Errorf("after removal: found %v, cache %v", gone, s.cache)
	}
	s.dir = filepath.Join(dir, "missing")
	if found, bad, err := s.scan(); err != nil || len(found) != 0 || len(bad) != 0 {
		t.Errorf("a missing directory: %v, %v, %v", found, bad, err)
	}
}

// TestScanRacy: a file read within racyWindow of its last change is read
// again at the next pass, so that a rewrite of the same size that left its
// key as it was (coarse timestamps; simulated here by giving the cache
// entry the new key) is still seen; its bytes unchanged, it keeps the
// decoded program. Once the entry is no longer racy, the key is trusted.
func TestScanRacy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "web.yaml")
	write := func(replicas string) fileKey {
		t.Helper()
		if err := os.WriteFile(path, []byte(scanBody+"  replicas: "+replicas+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return keyOf(fi)
	}
	write("2")
	s := &scanner{dir: dir, cache: map[string]cacheEntry{}}
	first, _, _ := s.scan()
	if !s.cache["web.yaml"].racy {
		t.Fatal("a file read right after it was written is not racy")
	}
	if again, _, _ := s.scan(); again["web"].prog != first["web"].prog {
		t.Error("a racy file with the same bytes was decoded again")
	}
	sameKey := func(k fileKey, racy bool) {
		c := s.cache["web.yaml"]
		c.key, c.racy = k, racy
		s.cache["web.yaml"] = c
	}
	sameKey(write("3"), true)
	if p := mustScan(t, s)["web"].prog; p == nil || p.Spec.Replicas != 3 {
		t.Errorf("a racy entry hid a same-size rewrite: %+v", p)
	}
	sameKey(write("4"), false)
	if p := mustScan(t, s)["web"].prog; p == nil || p.Spec.Replicas != 3 {
		t.Errorf("an entry that is not racy was read again: %+v", p)
	}
	if isRacy(fileKey{ctime: time.Now().Add(-2 * racyWindow).UnixNano()}, time.Now()) {
		t.Error("a file changed two windows ago is racy")
	}
}

func mustScan(t *testing.T, s *scanner) map[string]scanned {
	t.Helper()
	found, _, err := s.scan()
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestScanEnvFrom: a manifest is decoded again when one of its env files
// changes, appears or goes, in the directory or not; the files' variables
// are in the hash; a missing file is a located error; unchanged files keep
// the decoded program (no new pointer, so nothing counts as an edit).
func TestScanEnvFrom(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	write := func(path, data string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	envPath, outside := filepath.Join(dir, ".env"), filepath.Join(other, "prod.env")
	write(envPath, "A=1\n")
	write(outside, "B=1\n")
	write(filepath.Join(dir, "web.yaml"), scanBody+"  envFrom: [{file: .env}, {file: "+outside+"}]\n")
	write(filepath.Join(dir, "plain.yaml"), scanBody)
	s := &scanner{dir: dir, cache: map[string]cacheEntry{}}
	first, _, _ := s.scan()
	web := first["web"]
	if web.prog == nil || web.prog.EnvFromVars["A"] != "1" || web.prog.EnvFromVars["B"] != "1" {
		t.Fatalf("web: %+v", web)
	}
	if again, _, _ := s.scan(); again["web"].prog != web.prog || again["plain"].prog != first["plain"].prog {
		t.Error("unchanged files were decoded again")
	}

	write(envPath, "A=2\n")
	changed, _, _ := s.scan()
	if p := changed["web"].prog; p == nil || p.EnvFromVars["A"] != "2" || changed["web"].hash == web.hash {
		t.Errorf("an edit of .env was not read: %+v", changed["web"])
	}
	if changed["plain"].prog != first["plain"].prog {
		t.Error("another program was decoded again")
	}

	write(outside, "B=2\n")
	changed, _, _ = s.scan()
	if p := changed["web"].prog; p == nil || p.EnvFromVars["B"] != "2" {
		t.Errorf("an edit of a file outside the directory was not read: %+v", changed["web"])
	}

	if err := os.Remove(envPath); err != nil {
		t.Fatal(err)
	}
	gone, _, _ := s.scan()
	want := "web.yaml:3:14: spec.envFrom[0].file: cannot read " + envPath + ": no such file or directory"
	if r := gone["web"]; r.prog != nil || r.err == nil || r.err.Error() != want {
		t.Errorf("missing .env: %v, want error %q", r.err, want)
	}
	write(envPath, "A=3\n")
	back, _, _ := s.scan()
	if p := back["web"].prog; p == nil || p.EnvFromVars["A"] != "3" {
		t.Errorf("a .env that came back was not read: %+v", back["web"])
	}
}
