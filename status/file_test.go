package status

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestPaths(t *testing.T) {
	if got, want := StatusPath("/d", "worker"), "/d/worker.status.yaml"; got != want {
		t.Errorf("StatusPath = %q, want %q", got, want)
	}
	if got, want := EventsPath("/d", "worker"), "/d/worker.events.jsonl"; got != want {
		t.Errorf("EventsPath = %q, want %q", got, want)
	}
}

func TestWriteFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := sample("worker")
	changed, err := WriteFile(dir, st)
	if err != nil || !changed {
		t.Fatalf("WriteFile = %v, %v; want true, nil", changed, err)
	}
	got, err := ReadFile(StatusPath(dir, "worker"))
	if err != nil {
		t.Fatal(err)
	}
	if want := normalized(st); !reflect.DeepEqual(got, want) {
		t.Errorf("ReadFile:\n got %+v\nwant %+v", got, want)
	}
	fi, err := os.Stat(StatusPath(dir, "worker"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"worker.status.yaml"}) {
		t.Errorf("dir holds %v, want only the status file", names)
	}
}

func TestWriteFileFillsAPIVersionAndKind(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteFile(dir, ProgramStatus{Metadata: Metadata{Name: "w"}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(StatusPath(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	if got.APIVersion != APIVersion || got.Kind != Kind {
		t.Errorf("apiVersion, kind = %q, %q", got.APIVersion, got.Kind)
	}
}

func TestWriteFileInvalidName(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".hidden", "../escape", "a/b"} {
		_, err := WriteFile(dir, ProgramStatus{Metadata: Metadata{Name: name}})
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("WriteFile(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("dir holds %v, want nothing", names)
	}
}

// TestWriteFileOnlyOnChange checks that a status that differs only in updatedAt
// leaves the file alone (same inode, same mtime, old updatedAt), and that a real
// change replaces it.
func TestWriteFileOnlyOnChange(t *testing.T) {
	dir := t.TempDir()
	path := StatusPath(dir, "worker")
	st := sample("worker")
	if _, err := WriteFile(dir, st); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	same := st.DeepCopy()
	same.Status.UpdatedAt = st.Status.UpdatedAt.Add(time.Hour)
	same.Status.Instances[0].LastExit.RanFor += Duration(100 * time.Microsecond) // below the written precision
	changed, err := WriteFile(dir, same)
	if err != nil || changed {
		t.Fatalf("WriteFile(same but updatedAt) = %v, %v; want false, nil", changed, err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("unchanged status was rewritten")
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Status.UpdatedAt.Equal(st.Status.UpdatedAt.Truncate(time.Millisecond)) {
		t.Errorf("updatedAt = %v, want the time of the last real change %v", got.Status.UpdatedAt, st.Status.UpdatedAt)
	}

	diff := same.DeepCopy()
	diff.Status.Instances[1].Restarts++
	changed, err = WriteFile(dir, diff)
	if err != nil || !changed {
		t.Fatalf("WriteFile(changed) = %v, %v; want true, nil", changed, err)
	}
	after, err = os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Error("changed status was not replaced by a new file")
	}
	got, err = ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Status.UpdatedAt.Equal(diff.Status.UpdatedAt.Truncate(time.Millisecond)) {
		t.Errorf("updatedAt = %v, want %v", got.Status.UpdatedAt, diff.Status.UpdatedAt)
	}
}

// TestWriteFileRewritesCorrupt checks that a file that does not parse counts as
// different, so it gets replaced rather than kept forever.
func TestWriteFileRewritesCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(StatusPath(dir, "w"), []byte("status: [unclosed"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := WriteFile(dir, ProgramStatus{Metadata: Metadata{Name: "w"}})
	if err != nil || !changed {
		t.Fatalf("WriteFile over corrupt file = %v, %v; want true, nil", changed, err)
	}
	if _, err := ReadFile(StatusPath(dir, "w")); err != nil {
		t.Error(err)
	}
}

// TestWriteFileAtomic rewrites a status file of varying size while readers
// parse it in a loop: a reader must never see a partial file, and no temp file
// may be left behind.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := StatusPath(dir, "worker")
	// Few writes and readers: each write fsyncs twice, and the test must stay
	// quick on a loaded machine with the race detector.
	const writes = 60
	base := sample("worker")
	if _, err := WriteFile(dir, base); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads [2]int
	for r := range reads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				st, err := ReadFile(path)
				if err != nil {
					t.Errorf("reader saw a bad file: %v", err)
					return
				}
				if st.Metadata.Name != "worker" || st.Status.Replicas != len(st.Status.Instances) {
					t.Errorf("reader saw an inconsistent status: replicas %d, %d instances",
						st.Status.Replicas, len(st.Status.Instances))
					return
				}
				reads[r]++
				runtime.Gosched() // Leave the writer some CPU on small machines.
			}
		}()
	}

	for i := range writes {
		st := base.DeepCopy()
		// Grow and shrink the file, so that a torn read could not go unnoticed.
		n := i % 20
		st.Status.Replicas = n
		st.Status.Instances = nil
		for j := range n {
			st.Status.Instances = append(st.Status.Instances, Instance{Name: "worker-" + string(rune('a'+j)), Index: j, Message: strings.Repeat("x", 50*j)})
		}
		st.Status.Phase = "Running" + string(rune('A'+i%26))
		if _, err := WriteFile(dir, st); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	for r, n := range reads {
		if n == 0 {
			t.Errorf("reader %d never read the file", r)
		}
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"worker.status.yaml"}) {
		t.Errorf("dir holds %v, want only the status file", names)
	}
}

func TestReadDir(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b", "a-b", "a"} {
		if _, err := WriteFile(dir, ProgramStatus{Metadata: Metadata{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	// Things ReadDir must skip or report.
	files := map[string]string{
		".a.status.yaml.tmp-123": "half a fi",
		"a.yaml":                 "spec: {}",
		"a.events.jsonl":         "{}\n",
		"bad.status.yaml":        "status: [unclosed",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.status.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}

	got, err := ReadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "bad.status.yaml") {
		t.Errorf("ReadDir error = %v, want one naming bad.status.yaml", err)
	}
	var names []string
	for _, st := range got {
		names = append(names, st.Metadata.Name)
	}
	if want := []string{"a", "a-b", "b"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ReadDir names = %v, want %v", names, want)
	}

	if _, err := ReadDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir(missing) = %v, want ErrNotExist", err)
	}
}

func TestRemoveFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteFile(dir, ProgramStatus{Metadata: Metadata{Name: "w"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // The second time the file is already gone.
		if err := RemoveFile(dir, "w"); err != nil {
			t.Errorf("RemoveFile #%d: %v", i, err)
		}
	}
	if _, err := os.Stat(StatusPath(dir, "w")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("status file still there: %v", err)
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	keep := []string{"w.status.yaml", ".hidden", "w.yaml"}
	for _, name := range append([]string{".w.status.yaml.tmp-123", ".x.status.yaml.tmp-9"}, keep...) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := removeStaleTemps(dir)
	if err != nil || len(removed) != 2 {
		t.Errorf("removeStaleTemps = %v, %v; want 2 files", removed, err)
	}
	sort.Strings(keep)
	if names := listDir(t, dir); !reflect.DeepEqual(names, keep) {
		t.Errorf("dir holds %v, want %v", names, keep)
	}
}
