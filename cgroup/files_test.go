package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadControlAt(t *testing.T) {
	dir := t.TempDir()
	var long strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&long, "%d\n", 100000+i)
	}
	p := filepath.Join(dir, "cgroup.procs")
	if err := os.WriteFile(p, []byte(long.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	pids, err := readPids(p)
	if err != nil || len(pids) != 1000 || pids[0] != 100000 || pids[999] != 100999 {
		t.Fatalf("readPids of 1000 pids = %d pids, %v", len(pids), err)
	}
	ev := filepath.Join(dir, "cgroup.events")
	if err := os.WriteFile(ev, []byte("populated 1\nfrozen 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]uint64{"populated": 1, "frozen": 0} {
		if n, ok, err := readKeyed(ev, key); err != nil || !ok || n != want {
			t.Errorf("readKeyed %s = %d, %v, %v; want %d", key, n, ok, err, want)
		}
	}
	if _, ok, err := readKeyed(ev, "missing"); ok || err != nil {
		t.Errorf("readKeyed of a missing key = %v, %v", ok, err)
	}
	if _, err := readPids(filepath.Join(dir, "nothing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readPids of a missing file: %v; want ErrNotExist", err)
	}
	if err := writeControl(dir, "cgroup.events", "x"); err != nil {
		t.Fatal(err)
	}
	if err := writeControl(dir, "absent", "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("writeControl of a missing file: %v; want ErrNotExist (never created)", err)
	}
}

// readKeyedRawAt reads a small keyed file relative to a directory fd (or
// absolute), says when it is missing, and refuses one too long to be read
// whole in one call rather than parse a part of it.
func TestReadKeyedRawAt(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "cgroup.events")
	if err := os.WriteFile(ev, []byte("populated 0\nfrozen 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	for _, c := range []struct {
		dirfd int
		p     string
	}{{dirfd, "cgroup.events"}, {unix.AT_FDCWD, ev}} {
		for key, want := range map[string]uint64{"populated": 0, "frozen": 1} {
			if n, ok, err := readKeyedRawAt(c.dirfd, c.p, key); err != nil || !ok || n != want {
				t.Errorf("readKeyedRawAt %s %s = %d, %v, %v; want %d", c.p, key, n, ok, err, want)
			}
		}
	}
	if _, _, err := readKeyedRawAt(dirfd, "nothing", "populated"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readKeyedRawAt of a missing file: %v; want ErrNotExist", err)
	}
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, []byte(strings.Repeat("x 1\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readKeyedRawAt(dirfd, "long", "populated"); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("readKeyedRawAt of a long file: %v; want it refused", err)
	}
}
