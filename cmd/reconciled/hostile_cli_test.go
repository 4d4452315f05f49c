package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestValidateNotRegular: validate says what a file that is not a regular
// file is, at once (a FIFO would block a read forever, /dev/zero never end
// it), and exits 1.
func TestValidateNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo, sub, zero := filepath.Join(dir, "fifo.yaml"), filepath.Join(dir, "dir.yaml"), filepath.Join(dir, "zero.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	res := cmdRun(t, "validate", fifo, sub, zero)
	want := fifo + " is a FIFO, not a regular file: a manifest must be a regular file; it is not read\n" +
		sub + " is a directory, not a regular file: a manifest must be a regular file; it is not read\n" +
		zero + " is a character device, not a regular file: a manifest must be a regular file; it is not read\n"
	if res.code != 1 || res.stdout != want {
		t.Errorf("got %v, want exit 1 and stdout:\n%s", res, want)
	}
}

// TestReadersHostileFiles: status, describe, events and logs neither hang
// nor run out of memory on a FIFO or a link to /dev/zero named like the
// daemon's files; they show what they can and name what they cannot.
func TestReadersHostileFiles(t *testing.T) {
	dir := t.TempDir()
	cmdWriteStatus(t, dir, "worker")
	for _, p := range []string{"x.status.yaml", "worker.events.jsonl", "ok.events.jsonl"} {
		if err := syscall.Mkfifo(filepath.Join(dir, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"z.status.yaml", "worker.events.jsonl.1"} {
		if err := os.Symlink("/dev/zero", filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	logs := filepath.Join(dir, ".reconciled", "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(logs, "worker-0.stdout.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(logs, "worker-1.stdout.log")); err != nil {
		t.Fatal(err)
	}

	res := cmdRun(t, "status", "--dir", dir)
	if res.code != 0 || !strings.Contains(res.stdout, "worker-0") ||
		!strings.Contains(res.stderr, "x.status.yaml is a FIFO, not a regular file") ||
		!strings.Contains(res.stderr, "z.status.yaml is a symbolic link, not a regular file") {
		t.Errorf("status: %v", res)
	}
	if res := cmdRun(t, "describe", "--dir", dir, "worker"); res.code != 0 || !strings.Contains(res.stdout, "worker-1") {
		t.Errorf("describe: %v", res)
	}
	if res := cmdRun(t, "events", "--dir", dir); res.code != 0 {
		t.Errorf("events: %v", res)
	}
	if res := cmdRun(t, "logs", "--dir", dir, "worker"); res.code != 0 && res.code != 1 {
		t.Errorf("logs: %v", res)
	}
	if res := cmdRun(t, "status", "--dir", dir, "x"); res.code != 1 {
		t.Errorf("status x (a FIFO): %v", res)
	}
}
