package status

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/reconciled/reconciled/internal/regfile"
)

// hostileNames puts, under the given base names in dir, things that are
// not regular files: "fifo", "zero" (a link to /dev/zero), "fifolink" (a
// link to a FIFO elsewhere), "sock" and "dir". It returns the kind each
// base name holds.
func hostileNames(t *testing.T, dir string, bases map[string]string) {
	t.Helper()
	elsewhere := t.TempDir()
	for base, what := range bases {
		p := filepath.Join(dir, base)
		var err error
		switch what {
		case "fifo":
			err = syscall.Mkfifo(p, 0o644)
		case "zero":
			err = os.Symlink("/dev/zero", p)
		case "fifolink":
			fifo := filepath.Join(elsewhere, base)
			if err = syscall.Mkfifo(fifo, 0o644); err == nil {
				err = os.Symlink(fifo, p)
			}
		case "sock":
			var l net.Listener
			if l, err = net.Listen("unix", p); err == nil {
				t.Cleanup(func() { l.Close() })
			}
		case "dir":
			err = os.Mkdir(p, 0o755)
		default:
			t.Fatalf("unknown kind %q", what)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadHostileStatusFiles: the readers of the CLI (and of the daemon's
// start-up cleanup) never block on, nor read, what is not a regular file
// named like a status file, and still read the others.
func TestReadHostileStatusFiles(t *testing.T) {
	dir := t.TempDir()
	hostileNames(t, dir, map[string]string{"f.status.yaml": "fifo", "z.status.yaml": "zero",
		"l.status.yaml": "fifolink", "s.status.yaml": "sock", "d.status.yaml": "dir"})
	if _, err := WriteFile(dir, status("ok", 1)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"f", "z", "l", "s"} {
		if _, err := ReadFile(StatusPath(dir, n)); !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("ReadFile(%s) = %v, want ErrNotRegular", n, err)
		}
	}
	sts, err := ReadDir(dir)
	if len(sts) != 1 || sts[0].Metadata.Name != "ok" {
		t.Errorf("ReadDir = %v, want the one regular status", sts)
	}
	if !errors.Is(err, regfile.ErrNotRegular) || strings.Count(err.Error(), "not a regular file") != 4 {
		t.Errorf("ReadDir error = %v, want the 4 that are not regular files (the directory skipped)", err)
	}
	// Too large to be ours: refused unread.
	big := StatusPath(dir, "big")
	if err := os.WriteFile(big, make([]byte, MaxStatusFileSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(big); !errors.Is(err, regfile.ErrTooLarge) {
		t.Errorf("ReadFile(big) = %v, want ErrTooLarge", err)
	}
}

// TestWriteOverHostileStatusFiles: the writer replaces whatever took a
// status file's name, atomically, without writing through a link or
// blocking on a FIFO, also when it remembers having written that status.
func TestWriteOverHostileStatusFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(target, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostileNames(t, dir, map[string]string{"f.status.yaml": "fifo", "z.status.yaml": "zero", "l.status.yaml": "fifolink"})
	if err := os.Symlink(target, StatusPath(dir, "v")); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(WriterOptions{Dir: dir})
	for _, n := range []string{"f", "z", "l", "v", "later"} {
		w.Update(status(n, 1))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// Replaced behind the writer's back after it wrote: it notices.
	if err := os.Remove(StatusPath(dir, "later")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(StatusPath(dir, "later"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Update(status("later", 1)) // the same status: it remembers it as written
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"f", "z", "l", "v", "later"} {
		if fi, err := os.Lstat(StatusPath(dir, n)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v, %v; want a regular file", n, fi, err)
		}
		if got, ok := restartsOnDisk(dir, n); !ok || got != 1 {
			t.Errorf("%s: status not written", n)
		}
	}
	if data, _ := os.ReadFile(target); string(data) != "keep\n" {
		t.Errorf("the link's target was written: %q", data)
	}
}

// TestEventsOverHostileFiles: an events file name taken by a FIFO, a link
// (to /dev/zero, to a FIFO, to someone's file) or a socket is replaced by a
// regular file and logged; the append never blocks and never writes
// through the link. A directory cannot be replaced: an error.
func TestEventsOverHostileFiles(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(target, []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostileNames(t, dir, map[string]string{"f.events.jsonl": "fifo", "z.events.jsonl": "zero",
		"l.events.jsonl": "fifolink", "s.events.jsonl": "sock", "d.events.jsonl": "dir"})
	if err := os.Symlink(target, EventsPath(dir, "v")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []string
	log := funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, args)
	}, funcr.Options{})
	el := EventLog{Dir: dir, Log: log}
	ev := Event{Type: EventNormal, Reason: "Started", Program: "x"}
	for _, n := range []string{"f", "z", "l", "s", "v"} {
		if _, err := el.Append(n, []Event{ev}); err != nil {
			t.Errorf("Append(%s): %v", n, err)
			continue
		}
		if fi, err := os.Lstat(EventsPath(dir, n)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v, %v; want a regular file", n, fi, err)
		}
		if evs, err := ReadEvents(dir, n); err != nil || len(evs) != 1 {
			t.Errorf("%s: events %v, %v; want 1", n, evs, err)
		}
	}
	if _, err := el.Append("d", []Event{ev}); !errors.Is(err, syscall.EISDIR) {
		t.Errorf("Append(d) = %v, want the directory reported", err)
	}
	if data, _ := os.ReadFile(target); string(data) != "keep\n" {
		t.Errorf("the link's target was written: %q", data)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(strings.Join(logged, "\n"), `"msg"="Replaced a file in the way of an events file"`); n != 5 {
		t.Errorf("%d replacements logged, want 5:\n%s", n, strings.Join(logged, "\n"))
	}
}

// TestReadHostileEvents: the events reader refuses what is not a regular
// file without blocking, and reads only the end of a huge file.
func TestReadHostileEvents(t *testing.T) {
	dir := t.TempDir()
	hostileNames(t, dir, map[string]string{"f.events.jsonl": "fifo", "z.events.jsonl.1": "zero"})
	for _, n := range []string{"f", "z"} {
		if _, err := ReadEvents(dir, n); !errors.Is(err, regfile.ErrNotRegular) {
			t.Errorf("ReadEvents(%s) = %v, want ErrNotRegular", n, err)
		}
	}
	line := `{"time":"2026-11-22T10:00:00Z","type":"Normal","reason":"Started","program":"big"}` + "\n"
	n := int(MaxEventsRead)/len(line) + 100
	if err := os.WriteFile(EventsPath(dir, "big"), []byte(strings.Repeat(line, n)), 0o644); err != nil {
		t.Fatal(err)
	}
	evs, err := ReadEvents(dir, "big")
	if err != nil || len(evs) == 0 || len(evs) >= n || len(evs) < n-200 {
		t.Errorf("ReadEvents(big): %d events of %d, %v; want the last ones, whole", len(evs), n, err)
	}
}

// TestLongMessagesClipped: a message of a megabyte (a start failure that
// quotes a 1 MiB command) costs MaxMessage bytes in the status file and in
// each event, not a megabyte.
func TestLongMessagesClipped(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	st := status("w", 0)
	st.Status.Instances[0].Message = long
	st.Status.Conditions = []Condition{{Type: ConditionSpecValid, Status: ConditionFalse, Reason: "Invalid", Message: long}}
	data, err := Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 3*MaxMessage {
		t.Errorf("status of %d bytes", len(data))
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := long[:MaxMessage] + "... (1048576 bytes)"
	if back.Status.Instances[0].Message != want || back.Status.Conditions[0].Message != want {
		t.Errorf("messages not clipped as expected")
	}
	ev := appendEvent(nil, Event{Type: EventWarning, Reason: "BackOff", Program: "w", Message: long})
	if len(ev) > MaxMessage+200 {
		t.Errorf("event of %d bytes", len(ev))
	}
	if got := ParseEvents(append(ev, '\n')); len(got) != 1 || got[0].Message != want {
		t.Errorf("event message not clipped as expected")
	}
	// Short messages are untouched, whatever runes they hold.
	if m := clipMessage("héllo"); m != "héllo" {
		t.Errorf("clipMessage = %q", m)
	}
}
