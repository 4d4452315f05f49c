package watch

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The parent's watch reports entries created, deleted and renamed, and the
// parent's own removal, but not writes to or attribute changes of its files:
// a DIR beside a busy log file does not wake the daemon at every write.
func TestParentWatchIgnoresWrites(t *testing.T) {
	parent := t.TempDir()
	mkdir(t, filepath.Join(parent, "specs"))
	logFile := filepath.Join(parent, "app.log")
	write(t, logFile, "")
	pw, err := newParentWatcher()
	must(t, err)
	defer func() { must(t, pw.close()) }()
	must(t, pw.add(parent))

	next := func(what string) parentEvent {
		t.Helper()
		select {
		case ev := <-pw.events:
			if !pw.current(ev) {
				t.Fatalf("%s: event of a stale watch: %+v", what, ev)
			}
			return ev
		case err := <-pw.errs:
			t.Fatalf("%s: %v", what, err)
		case <-time.After(deadline):
			t.Fatalf("%s: no event within %v", what, deadline)
		}
		return parentEvent{}
	}

	f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	for range 100 {
		_, err := f.WriteString("a line\n")
		must(t, err)
	}
	must(t, f.Close())
	must(t, os.Chmod(logFile, 0o600))
	// Events come in order: had the writes been reported, they would come
	// before this one.
	write(t, filepath.Join(parent, "marker"), "")
	if ev := next("marker created"); ev.name != filepath.Join(parent, "marker") || ev.mask&unix.IN_CREATE == 0 {
		t.Fatalf("first event %+v (%s); want the marker's creation, not the log file's writes", ev, ev.name)
	}

	// DIR's name re-pointed: a rename over it, then its removal.
	mkdir(t, filepath.Join(parent, "specs.new"))
	must(t, unix.Rename(filepath.Join(parent, "specs.new"), filepath.Join(parent, "specs"))) // os.Rename refuses a directory over one
	for _, want := range []uint32{unix.IN_CREATE, unix.IN_MOVED_FROM, unix.IN_MOVED_TO} {
		if ev := next("specs replaced"); ev.mask&want == 0 {
			t.Fatalf("event %+v (%s); want mask %#x", ev, ev.name, want)
		}
	}
	must(t, os.Remove(filepath.Join(parent, "specs")))
	if ev := next("specs removed"); ev.name != filepath.Join(parent, "specs") || ev.mask&unix.IN_DELETE == 0 {
		t.Fatalf("event %+v (%s); want specs deleted", ev, ev.name)
	}

	// The parent itself removed.
	must(t, os.RemoveAll(parent))
	for {
		ev := next("parent removed")
		if ev.mask&unix.IN_DELETE_SELF != 0 {
			break
		}
	}
}
