package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"testing"
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

func TestWriteOptions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.yaml")
	if err := Write(path, []byte("one\n"), Options{Mode: 0o640}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode())
	}
	// A failing last check leaves the old file and no temp file.
	stop := errors.New("changed meanwhile")
	err := Write(path, []byte("two\n"), Options{Mode: 0o644, BeforeRename: func() error { return stop }})
	if !errors.Is(err, stop) {
		t.Fatalf("err %v, want %v", err, stop)
	}
	if data, _ := os.ReadFile(path); string(data) != "one\n" {
		t.Fatalf("content %q after an aborted write", data)
	}
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"worker.yaml"}) {
		t.Fatalf("dir holds %v", names)
	}
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	// Owner, then the set-gid bit, which the chown would have cleared.
	err = Write(path, []byte("three\n"), Options{Mode: 0o644 | os.ModeSetgid, Owner: &[2]int{65534, 65534}})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 65534 || st.Gid != 65534 || fi.Mode()&os.ModeSetgid == 0 {
		t.Fatalf("owner %d:%d mode %v", st.Uid, st.Gid, fi.Mode())
	}
}

// TestWriteNeverTorn rewrites a file with contents of varying size while
// readers read it in a loop: a reader must see one whole content or another,
// never a mix, and no temp file may be left behind.
func TestWriteNeverTorn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	content := func(i int) []byte { return bytes.Repeat([]byte{'a' + byte(i%26)}, 1+(i%20)*500) }
	if err := Write(path, content(0), Options{Mode: 0o644}); err != nil {
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
				data, err := os.ReadFile(path)
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				if len(data) == 0 || !bytes.Equal(data, bytes.Repeat(data[:1], len(data))) || (len(data)-1)%500 != 0 {
					t.Errorf("reader saw a torn file of %d bytes", len(data))
					return
				}
				reads[r]++
				runtime.Gosched() // leave the writer some CPU on small machines
			}
		}()
	}
	// Few writes: each fsyncs twice, and the test must stay quick on a
	// loaded machine under the race detector.
	for i := 1; i < 60; i++ {
		if err := Write(path, content(i), Options{Mode: 0o644}); err != nil {
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
	if names := listDir(t, dir); !reflect.DeepEqual(names, []string{"f"}) {
		t.Errorf("dir holds %v, want only the file", names)
	}
}

// TestWriteRelative writes a path without a directory: the temp file goes
// to the working directory, not to os.TempDir (another file system).
func TestWriteRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := Write("f.yaml", []byte("x\n"), Options{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile("f.yaml"); err != nil || string(data) != "x\n" {
		t.Fatalf("f.yaml = %q, %v", data, err)
	}
}

func TestTempGlob(t *testing.T) {
	dir := t.TempDir()
	stop := errors.New("stop")
	// Leave a temp file behind as a crashed writer would: fail the last
	// check, then recreate the name the temp file had.
	var tmp string
	err := Write(filepath.Join(dir, "web.status.yaml"), []byte("x"), Options{Mode: 0o644, BeforeRename: func() error {
		names := listDir(t, dir)
		if len(names) == 1 {
			tmp = names[0]
		}
		return stop
	}})
	if !errors.Is(err, stop) || tmp == "" {
		t.Fatalf("Write = %v, temp %q", err, tmp)
	}
	for pattern, want := range map[string]bool{"*.status.yaml": true, "web.status.yaml": true, "*.yml": false} {
		ok, err := filepath.Match(TempGlob(pattern), tmp)
		if err != nil || ok != want {
			t.Errorf("Match(TempGlob(%q), %q) = %v, %v; want %v", pattern, tmp, ok, err, want)
		}
	}
}
