package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

// These tests use real inotify in t.TempDir(). They never sleep to
// synchronise: positive checks wait on C with a generous deadline, negative
// checks ("nothing arrives") wait a bounded time well above MaxDelay.
const (
	deadline = 5 * time.Second
	// quiet is how long C must stay silent for drain to consider a burst
	// over; above DefaultMaxDelay so a storm cannot hide behind it.
	quiet = 400 * time.Millisecond
)

type harness struct {
	t *testing.T
	w *Watcher
}

// start runs a Watcher on opts.Dir until the test ends and consumes the
// initial notification.
func start(t *testing.T, opts Options) *harness {
	t.Helper()
	opts.Log = testr.NewWithOptions(t, testr.Options{Verbosity: 1})
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return run(t, w)
}

// run runs w until the test ends and consumes the initial notification.
func run(t *testing.T, w *Watcher) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(deadline):
			t.Errorf("Run did not return %v after cancel", deadline)
		}
	})
	h := &harness{t: t, w: w}
	h.expect("initial notification")
	return h
}

// expect waits for a notification.
func (h *harness) expect(what string) {
	h.t.Helper()
	h.expectWithin(what, deadline)
}

func (h *harness) expectWithin(what string, d time.Duration) {
	h.t.Helper()
	select {
	case <-h.w.C():
	case <-time.After(d):
		h.t.Fatalf("%s: no notification within %v", what, d)
	}
}

// expectNone asserts that no notification arrives within d.
func (h *harness) expectNone(what string, d time.Duration) {
	h.t.Helper()
	select {
	case <-h.w.C():
		h.t.Fatalf("%s: unexpected notification", what)
	case <-time.After(d):
	}
}

// drain consumes notifications until C stays quiet, so that the next
// expect is caused by the next action only. It returns how many it took.
func (h *harness) drain() int {
	h.t.Helper()
	n := 0
	end := time.After(deadline)
	for {
		select {
		case <-h.w.C():
			n++
		case <-time.After(quiet):
			return n
		case <-end:
			h.t.Fatalf("notifications did not stop within %v", deadline)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestInitialNotification(t *testing.T) {
	dir := t.TempDir()
	h := start(t, Options{Dir: dir})
	h.expectNone("no change", quiet)
}

// cp truncates the existing file and writes it in several chunks.
func TestCopyTruncateAndWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.yaml")
	write(t, path, "spec: {command: [sleep, '1']}\n")
	h := start(t, Options{Dir: dir})

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	must(t, err)
	for i := range 5 {
		_, err := fmt.Fprintf(f, "# chunk %d\n", i)
		must(t, err)
	}
	must(t, f.Close())
	h.expect("truncate and write")
}

// sed -i, rsync and editors write a temp file and rename it over the target.
func TestRenameOverTarget(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.yaml")
	write(t, path, "old\n")
	h := start(t, Options{Dir: dir})

	tmp := filepath.Join(dir, "sedAb12Cd")
	write(t, tmp, "new\n")
	h.expect("temp file created")
	h.drain()

	must(t, os.Rename(tmp, path))
	h.expect("rename over the target")
}

// git checkout unlinks a file and creates a new one.
func TestUnlinkAndCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "worker.yaml")
	write(t, path, "old\n")
	h := start(t, Options{Dir: dir})

	must(t, os.Remove(path))
	h.expect("unlink")
	h.drain()
	write(t, path, "new\n")
	h.expect("create")
}

// A ConfigMap volume: worker.yaml -> ..data/worker.yaml, ..data -> ..TS.
// kubelet writes a new ..TS2 directory, creates ..data_tmp -> ..TS2, renames
// it over ..data and removes ..TS. Only the rename changes what the specs
// resolve to, so it alone must notify.
func TestConfigMapDataSwap(t *testing.T) {
	dir := t.TempDir()
	mkdir(t, filepath.Join(dir, "..2026_11_22_10_00_00.1"))
	write(t, filepath.Join(dir, "..2026_11_22_10_00_00.1", "worker.yaml"), "v1\n")
	must(t, os.Symlink("..2026_11_22_10_00_00.1", filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "worker.yaml"), filepath.Join(dir, "worker.yaml")))
	h := start(t, Options{Dir: dir})

	mkdir(t, filepath.Join(dir, "..2026_11_22_10_05_00.2"))
	write(t, filepath.Join(dir, "..2026_11_22_10_05_00.2", "worker.yaml"), "v2\n")
	must(t, os.Symlink("..2026_11_22_10_05_00.2", filepath.Join(dir, "..data_tmp")))
	h.drain()

	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	h.expect("..data re-pointed")
	h.drain()

	must(t, os.RemoveAll(filepath.Join(dir, "..2026_11_22_10_00_00.1")))
	h.expect("old data directory removed")
	if b, err := os.ReadFile(filepath.Join(dir, "worker.yaml")); err != nil || string(b) != "v2\n" {
		t.Fatalf("worker.yaml = %q, %v; want v2", b, err)
	}
}

// git-sync: DIR is a symlink swapped atomically to another revision. The
// watch must follow it: the new target notifies, the old one no longer does.
func TestDirSymlinkRepointed(t *testing.T) {
	root := t.TempDir()
	oldRev, newRev := filepath.Join(root, "rev-abc"), filepath.Join(root, "rev-def")
	mkdir(t, oldRev)
	mkdir(t, newRev)
	link := filepath.Join(root, "specs")
	must(t, os.Symlink("rev-abc", link))
	h := start(t, Options{Dir: link})

	write(t, filepath.Join(oldRev, "a.yaml"), "a\n")
	h.expect("change in the first target")
	h.drain()

	// Preparing the swap happens outside DIR: nothing to see yet.
	write(t, filepath.Join(newRev, "a.yaml"), "a2\n")
	must(t, os.Symlink("rev-def", filepath.Join(root, "tmp-link")))
	h.expectNone("swap prepared", quiet)

	must(t, os.Rename(filepath.Join(root, "tmp-link"), link))
	h.expect("symlink re-pointed")
	h.drain()

	write(t, filepath.Join(newRev, "b.yaml"), "b\n")
	h.expect("change in the new target")
	h.drain()

	write(t, filepath.Join(oldRev, "c.yaml"), "c\n")
	must(t, os.Remove(filepath.Join(oldRev, "a.yaml")))
	h.expectNone("change in the old target", quiet)

	// git-sync then removes the old revision: not our directory any more.
	must(t, os.RemoveAll(oldRev))
	h.expectNone("old target removed", quiet)

	// Swapping back works as well.
	must(t, os.Symlink("rev-abc2", filepath.Join(root, "tmp-link")))
	mkdir(t, filepath.Join(root, "rev-abc2"))
	must(t, os.Rename(filepath.Join(root, "tmp-link"), link))
	h.expect("symlink re-pointed again")
	h.drain()
	write(t, filepath.Join(root, "rev-abc2", "d.yaml"), "d\n")
	h.expect("change in the third target")
}

// The daemon's own writes (status files through a dot temp file, event
// logs, .reconciled/) must not cause rescans; a spec write still does.
func TestIgnoredNamesDoNotNotify(t *testing.T) {
	dir := t.TempDir()
	ignore := func(name string) bool {
		return strings.HasSuffix(name, ".status.yaml") ||
			strings.HasSuffix(name, ".events.jsonl") ||
			name == ".reconciled" ||
			(strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-"))
	}
	h := start(t, Options{Dir: dir, Ignore: ignore})

	// An atomic status write, as package status does it.
	f, err := os.CreateTemp(dir, ".x.status.yaml.tmp-*")
	must(t, err)
	_, err = f.WriteString("status: {phase: Running}\n")
	must(t, err)
	must(t, f.Sync())
	must(t, f.Chmod(0o644))
	must(t, f.Close())
	must(t, os.Rename(f.Name(), filepath.Join(dir, "x.status.yaml")))
	write(t, filepath.Join(dir, "x.status.yaml"), "status: {phase: Degraded}\n")

	// An event record appended.
	ev, err := os.OpenFile(filepath.Join(dir, "x.events.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(t, err)
	_, err = ev.WriteString(`{"reason":"Started"}` + "\n")
	must(t, err)
	must(t, ev.Close())

	// The daemon's private directory.
	mkdir(t, filepath.Join(dir, ".reconciled", "logs"))
	write(t, filepath.Join(dir, ".reconciled", "pid"), "1\n")

	h.expectNone("the daemon's own files", 300*time.Millisecond)

	write(t, filepath.Join(dir, "x.yaml"), "spec: {}\n")
	h.expect("spec written")
}

// No name is ignored by default, dot-names included.
func TestDotNamesNotIgnoredByDefault(t *testing.T) {
	dir := t.TempDir()
	h := start(t, Options{Dir: dir})
	write(t, filepath.Join(dir, ".x.status.yaml.tmp-1"), "x\n")
	h.expect("dot file")
}

// A storm of 1000 writes is coalesced: consecutive notifications are at
// least Debounce apart, and the last change is still delivered.
func TestStormIsCoalesced(t *testing.T) {
	dir := t.TempDir()
	h := start(t, Options{Dir: dir})

	began := time.Now()
	files := make([]*os.File, 10)
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("p%d.yaml", i)))
		must(t, err)
		files[i] = f
	}
	for i := range 1000 {
		_, err := fmt.Fprintf(files[i%len(files)], "# %d\n", i)
		must(t, err)
	}
	for _, f := range files {
		must(t, f.Close())
	}
	storm := time.Since(began)

	n := 0
	var last time.Time
	end := time.After(deadline)
	for done := false; !done; {
		select {
		case <-h.w.C():
			n++
			last = time.Now()
		case <-time.After(quiet):
			done = true
		case <-end:
			t.Fatalf("notifications did not stop within %v", deadline)
		}
	}
	t.Logf("1000 writes in %v: %d notifications", storm, n)
	if n == 0 {
		t.Fatal("storm: no notification")
	}
	// The hard bound: deliveries are at least Debounce apart. A cap the
	// watcher enforces, not a speed: a slow machine only makes the elapsed
	// time, and so the cap, larger.
	if most := int(last.Sub(began)/DefaultDebounce) + 1; n > most {
		t.Fatalf("storm: %d notifications in %v, want at most %d", n, last.Sub(began), most)
	}
}

// Under a storm that never goes quiet, MaxDelay still delivers. Writes come
// every millisecond, far below Debounce, so without the cap nothing would
// arrive while they go on. (No lower bound on the latency is asserted: a
// stall of the loaded test machine longer than Debounce is a real quiet
// period and may legitimately deliver earlier.)
func TestMaxDelayCapsLatency(t *testing.T) {
	dir := t.TempDir()
	const debounce, maxDelay = time.Second, 1500 * time.Millisecond
	h := start(t, Options{Dir: dir, Debounce: debounce, MaxDelay: maxDelay})

	began := time.Now()
	f, err := os.Create(filepath.Join(dir, "storm.yaml"))
	must(t, err)
	defer f.Close()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var maxGap time.Duration
	last := time.Now()
	for {
		select {
		case <-h.w.C():
			t.Logf("notified after %v of continuous writes (largest gap between writes %v)", time.Since(began), maxGap)
			return
		case now := <-tick.C:
			if time.Since(began) > maxDelay+deadline {
				t.Fatalf("no notification during %v of continuous writes", maxDelay+deadline)
			}
			maxGap = max(maxGap, now.Sub(last))
			last = now
			_, err := f.WriteString("#\n")
			must(t, err)
		}
	}
}

// rm -rf DIR, then mkdir DIR: both notify, and the new directory is watched.
func TestDirRemovedAndRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "specs")
	mkdir(t, dir)
	write(t, filepath.Join(dir, "a.yaml"), "a\n")
	h := start(t, Options{Dir: dir})

	must(t, os.RemoveAll(dir))
	h.expect("directory removed")
	h.drain()

	mkdir(t, dir)
	h.expect("directory re-created")
	h.drain()

	write(t, filepath.Join(dir, "b.yaml"), "b\n")
	h.expect("change in the re-created directory")
}

// The parent vanishes too: the bounded retry brings the watch back.
func TestParentRemovedAndRecreated(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "srv", "specs")
	mkdir(t, dir)
	h := start(t, Options{Dir: dir})

	must(t, os.RemoveAll(filepath.Join(root, "srv")))
	h.expect("parent removed")
	h.drain()

	// Nothing watches the missing parent: the retry finds the directory,
	// after at most retryMax.
	mkdir(t, dir)
	h.expectWithin("directory re-created", retryMax+deadline)
	h.drain()

	write(t, filepath.Join(dir, "a.yaml"), "a\n")
	h.expect("change in the re-created directory")
}

// DIR moved away and back: fsnotify drops a watch whose directory moved, so
// the watch must be re-added.
func TestDirMovedAwayAndBack(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "specs")
	mkdir(t, dir)
	h := start(t, Options{Dir: dir})

	must(t, os.Rename(dir, dir+".old"))
	h.expect("directory moved away")
	h.drain()
	write(t, filepath.Join(dir+".old", "x.yaml"), "x\n")
	h.expectNone("change in the moved-away directory", quiet)

	must(t, os.Rename(dir+".old", dir))
	h.expect("directory moved back")
	h.drain()
	write(t, filepath.Join(dir, "y.yaml"), "y\n")
	h.expect("change after moving back")
}

func TestDirMissingAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "specs")
	h := start(t, Options{Dir: dir})

	mkdir(t, dir)
	h.expect("directory created")
	h.drain()

	write(t, filepath.Join(dir, "a.yaml"), "a\n")
	h.expect("change in the created directory")
}

func TestTrigger(t *testing.T) {
	dir := t.TempDir()
	h := start(t, Options{Dir: dir})

	h.w.Trigger()
	h.expect("Trigger")

	began := time.Now()
	for range 100 {
		h.w.Trigger()
	}
	took := time.Since(began)
	// Deliveries are at least Debounce apart; one more may follow the last
	// Trigger. (A cap, as in TestStormIsCoalesced: load only loosens it.)
	if n, most := h.drain(), int(took/DefaultDebounce)+2; n < 1 || n > most {
		t.Fatalf("100 Triggers in %v gave %d notifications, want 1 to %d", took, n, most)
	}
}

// A Trigger made before Run does not block; Run's initial notification
// covers it.
func TestTriggerBeforeRun(t *testing.T) {
	w, err := New(Options{Dir: t.TempDir(), Log: testr.New(t)})
	must(t, err)
	w.Trigger()
	w.Trigger()
	h := run(t, w)
	if n := h.drain(); n > 1 {
		t.Fatalf("%d notifications after the initial one, want at most 1", n)
	}
}

func TestResync(t *testing.T) {
	dir := t.TempDir()
	h := start(t, Options{Dir: dir, Resync: 50 * time.Millisecond})
	h.expect("first resync")
	h.expect("second resync")
}

func TestResyncDisabled(t *testing.T) {
	h := start(t, Options{Dir: t.TempDir(), Resync: -1})
	h.expectNone("resync disabled", quiet)
}

func TestNew(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without Dir: want an error")
	}
	w, err := New(Options{Dir: "specs", MaxDelay: time.Millisecond})
	must(t, err)
	if !filepath.IsAbs(w.dir) {
		t.Errorf("dir %q is not absolute", w.dir)
	}
	if w.debounce != DefaultDebounce || w.maxDelay != DefaultDebounce || w.resync != DefaultResync {
		t.Errorf("defaults: debounce %v, maxDelay %v, resync %v", w.debounce, w.maxDelay, w.resync)
	}
	if w.ignore("anything") {
		t.Error("nil Ignore must ignore nothing")
	}
}

func TestRunTwiceConcurrently(t *testing.T) {
	dir := t.TempDir()
	h := start(t, Options{Dir: dir})
	if err := h.w.Run(t.Context()); err == nil {
		t.Fatal("second concurrent Run: want an error")
	}
}

// Run returns nil soon after cancel and leaves no goroutine behind, its
// own or fsnotify's.
func TestRunStopsWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()

	dir := t.TempDir()
	w, err := New(Options{Dir: dir, Resync: 10 * time.Millisecond, Log: testr.New(t)})
	must(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-w.C():
	case <-time.After(deadline):
		t.Fatal("no initial notification")
	}
	write(t, filepath.Join(dir, "a.yaml"), "a\n") // leave a burst open
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(deadline):
		t.Fatal("Run did not return after cancel")
	}

	// Goroutines that ended may take a moment to be accounted for: poll.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	end := time.After(deadline)
	for runtime.NumGoroutine() > before {
		select {
		case <-poll.C:
		case <-end:
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}

	// The same Watcher can run again once Run has returned.
	ctx2, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := w.Run(ctx2); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after Run = %v", err)
	}
}
