package status

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/reconciled/reconciled/internal/clock"
	"github.com/reconciled/reconciled/internal/fakeclock"
	"github.com/reconciled/reconciled/internal/waitfor"
)

// waitTimeout bounds every wait of these tests for an outcome. It is
// generous, for a loaded machine under -race: a passing test never waits
// that long.
const waitTimeout = 20 * time.Second

// testWriter is a Writer with a fake clock, a write counter and a running Run.
type testWriter struct {
	*Writer
	clock  *fakeclock.Clock
	writes atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

func startWriter(t *testing.T, opts WriterOptions) *testWriter {
	t.Helper()
	tw := &testWriter{done: make(chan struct{})}
	if opts.Clock == nil {
		tw.clock = fakeclock.New()
		opts.Clock = tw.clock
	}
	tw.Writer = NewWriter(opts)
	tw.onWrite = func(string) { tw.writes.Add(1) }
	ctx, cancel := context.WithCancel(t.Context())
	tw.cancel = cancel
	go func() {
		defer close(tw.done)
		tw.Run(ctx)
	}()
	t.Cleanup(tw.stop)
	return tw
}

func (tw *testWriter) stop() {
	tw.cancel()
	<-tw.done
}

// waitTimer waits until Run has started the timer of a batch.
func (tw *testWriter) waitTimer(t *testing.T) {
	t.Helper()
	waitfor.Condition(t, waitTimeout, func() bool {
		return tw.clock.Pending() == 1
	}, "the writer to start its timer")
}

func status(name string, restarts int) ProgramStatus {
	return ProgramStatus{Metadata: Metadata{Name: name}, Status: Status{
		Desired: "running", Replicas: 1, Phase: "Running",
		Instances: []Instance{{Name: name + "-0", State: "RUNNING", Restarts: restarts}},
	}}
}

func restartsOnDisk(dir, name string) (int, bool) {
	st, err := ReadFile(StatusPath(dir, name))
	if err != nil || len(st.Status.Instances) == 0 {
		return 0, false
	}
	return st.Status.Instances[0].Restarts, true
}

// TestWriterCoalesces sends a storm of updates within one interval and checks
// that it costs one write, made when the interval ends, of the latest status,
// and that the writer then rests without timers.
func TestWriterCoalesces(t *testing.T) {
	tests := []struct {
		name       string
		goroutines int
		perG       int
	}{
		{"one goroutine", 1, 10000},
		{"many goroutines", 10, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tw := startWriter(t, WriterOptions{Dir: dir})
			var wg sync.WaitGroup
			for g := range tt.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tt.perG {
						tw.Update(status("w", g*tt.perG+i))
					}
				}()
			}
			wg.Wait()
			// The last word, so that the expected content is known.
			tw.Update(status("w", 1_000_000))
			tw.waitTimer(t)

			tw.clock.Step(DefaultInterval - time.Millisecond)
			if _, err := os.Stat(StatusPath(dir, "w")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("status written before the interval ended: %v", err)
			}
			tw.clock.Step(time.Millisecond)
			waitfor.Condition(t, waitTimeout, func() bool { return tw.writes.Load() == 1 }, "the write")
			if got, _ := restartsOnDisk(dir, "w"); got != 1_000_000 {
				t.Errorf("restarts on disk = %d, want the latest, 1000000", got)
			}
			if pending, created := tw.clock.Pending(), tw.clock.Armed(); pending != 0 || created != 1 {
				t.Errorf("after the flush: %d pending timers, %d made; want 0 and 1", pending, created)
			}
			tw.stop()
			if n := tw.writes.Load(); n != 1 {
				t.Errorf("%d writes, want 1", n)
			}
		})
	}
}

// TestWriterSkipsUnchanged checks that updates which change only updatedAt
// start a batch but write nothing.
func TestWriterSkipsUnchanged(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir})
	tw.Update(status("w", 1))
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(StatusPath(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		tw.clock.Step(time.Second) // A new updatedAt each time.
		tw.Update(status("w", 1))
		if err := tw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.Stat(StatusPath(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	if n := tw.writes.Load(); n != 1 || !os.SameFile(before, after) {
		t.Errorf("%d writes (same file: %v), want 1", n, os.SameFile(before, after))
	}
}

// TestWriterTrim: a trimmed writer still skips a status that did not change
// (it compares with the file) and writes one that did.
func TestWriterTrim(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir})
	if tw.Trim() {
		t.Error("a writer that wrote nothing trimmed something")
	}
	tw.Update(status("w", 1))
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if !tw.Trim() || tw.Trim() {
		t.Error("want one trim after a write, and nothing left for a second")
	}
	tw.clock.Step(time.Second) // a new updatedAt
	tw.Update(status("w", 1))
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := tw.writes.Load(); n != 1 {
		t.Errorf("%d writes after a trim and the same status again, want 1", n)
	}
	tw.Update(status("w", 2))
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, _ := restartsOnDisk(dir, "w"); got != 2 || tw.writes.Load() != 2 {
		t.Errorf("after a trim, a change: restarts on disk %d, %d writes; want 2 and 2", got, tw.writes.Load())
	}
}

// TestWriterAfterFlush: Run calls AfterFlush after each of its flushes,
// and never while nothing changes.
func TestWriterAfterFlush(t *testing.T) {
	var flushes atomic.Int32
	tw := startWriter(t, WriterOptions{Dir: t.TempDir(), AfterFlush: func() { flushes.Add(1) }})
	for i := range 2 {
		tw.Update(status("w", i))
		tw.waitTimer(t)
		tw.clock.Step(DefaultInterval)
		waitfor.Condition(t, waitTimeout, func() bool { return flushes.Load() == int32(i+1) }, "flush %d", i+1)
	}
	tw.clock.Step(time.Hour)
	if n := flushes.Load(); n != 2 || tw.clock.Pending() != 0 {
		t.Errorf("%d flushes and %d timers after an hour without change, want 2 and 0", n, tw.clock.Pending())
	}
}

// TestWriterRealClock: with the real clock, each update reaches the disk.
// How soon (the staleness of a status file, which docs/reference.md promises
// within a second) is BenchmarkWriterStaleness's figure, not this test's.
func TestWriterRealClock(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir, Interval: 50 * time.Millisecond, Clock: clock.Real{}})
	for i := range 5 {
		tw.Update(status("w", i))
		waitfor.Condition(t, waitTimeout, func() bool {
			got, ok := restartsOnDisk(dir, "w")
			return ok && got == i
		}, "update %d on disk", i)
	}
}

// TestWriterStormRealClock hammers the writer with the real clock and checks
// that writes stay bounded by the elapsed intervals.
func TestWriterStormRealClock(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir, Clock: clock.Real{}})
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2500 {
				tw.Update(status("w", g*2500+i))
			}
		}()
	}
	wg.Wait()
	tw.Update(status("w", -1))
	waitfor.Condition(t, waitTimeout, func() bool {
		got, ok := restartsOnDisk(dir, "w")
		return ok && got == -1
	}, "the last update on disk")
	tw.stop()
	// A cap the writer enforces (a write per interval at most, plus the
	// first and the final flush), not a speed: a slow machine only makes
	// the elapsed time, and so the cap, larger.
	bound := int64(time.Since(start)/DefaultInterval) + 2
	if n := tw.writes.Load(); n > bound {
		t.Errorf("%d writes for 10001 updates in %v, want at most %d", n, time.Since(start), bound)
	}
}

func TestWriterDelete(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir})
	path := StatusPath(dir, "w")
	steps := []struct {
		name   string
		do     func()
		exists bool
	}{
		{"update creates", func() { tw.Update(status("w", 0)) }, true},
		{"delete removes", func() { tw.Delete("w") }, false},
		{"delete of a missing file is fine", func() { tw.Delete("w") }, false},
		{"update after delete re-creates", func() { tw.Update(status("w", 0)) }, true},
		{"delete then update in one batch keeps it", func() { tw.Delete("w"); tw.Update(status("w", 2)) }, true},
		{"update then delete in one batch removes it", func() { tw.Update(status("w", 3)); tw.Delete("w") }, false},
	}
	for _, s := range steps {
		s.do()
		if err := tw.Flush(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		_, err := os.Stat(path)
		if exists := err == nil; exists != s.exists {
			t.Errorf("%s: file exists = %v, want %v (%v)", s.name, exists, s.exists, err)
		}
	}
	if got, _ := restartsOnDisk(dir, "w"); got != 0 {
		t.Errorf("restarts = %d", got)
	}
}

// TestWriterEvents checks order per program, the default time, the events of a
// deleted program staying, and rotation with the configured limit.
func TestWriterEvents(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir, EventsMaxBytes: 1 << 10})
	for i := range 30 {
		tw.Event(Event{Type: EventNormal, Reason: "Started", Program: "a", Message: string(rune('A' + i%26))})
		tw.Event(Event{Type: EventWarning, Reason: "BackOff", Program: "b", Instance: "b-0", Pid: i + 1})
	}
	tw.Event(Event{Type: EventNormal, Reason: "Deleted", Program: "b"})
	tw.Delete("b")
	tw.waitTimer(t)
	tw.clock.Step(DefaultInterval)
	waitfor.Condition(t, waitTimeout, func() bool {
		evs, err := ReadEvents(dir, "b")
		return err == nil && len(evs) > 0 && evs[len(evs)-1].Reason == "Deleted"
	}, "events on disk")

	a, err := ReadEvents(dir, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(EventsPath(dir, "a") + ".1"); err != nil {
		t.Errorf("no rotation at a 1KiB limit: %v", err)
	}
	if len(a) == 0 || len(a) >= 30 {
		t.Fatalf("read %d events of a, want some but not all 30 after rotation", len(a))
	}
	for i, ev := range a {
		want := string(rune('A' + (30-len(a)+i)%26))
		if ev.Message != want || !ev.Time.Equal(tw.clock.Now().Add(-DefaultInterval)) {
			t.Errorf("event %d of a = %+v, want message %q at the clock's time", i, ev, want)
		}
	}
	b, err := ReadEvents(dir, "b")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(b)-1; i++ {
		if b[i].Pid != b[i-1].Pid+1 {
			t.Errorf("events of b out of order: pid %d after %d", b[i].Pid, b[i-1].Pid)
		}
	}
}

// TestWriterFinalFlush checks that Run writes what is pending when its context
// ends, without waiting for the interval.
func TestWriterFinalFlush(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir})
	tw.Update(status("w", 7))
	tw.Event(Event{Type: EventNormal, Reason: "Stopped", Program: "w"})
	tw.waitTimer(t)
	tw.stop() // The fake timer never fires: only the final flush can write.
	if got, ok := restartsOnDisk(dir, "w"); !ok || got != 7 {
		t.Errorf("restarts on disk = %d, %v; want 7", got, ok)
	}
	if evs, err := ReadEvents(dir, "w"); err != nil || len(evs) != 1 {
		t.Errorf("events = %v, %v; want 1", evs, err)
	}
}

// TestWriterRetriesFailures makes writes fail, checks they are logged once,
// retried on their own with a growing back-off while the fault lasts, and
// written without any other change once the directory is usable again.
func TestWriterRetriesFailures(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	var mu sync.Mutex
	var logged []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		logged = append(logged, args)
	}, funcr.Options{})
	tw := startWriter(t, WriterOptions{Dir: dir, Log: log})
	nLogged := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(logged)
	}

	tw.Update(status("a", 1))
	tw.Event(Event{Type: EventNormal, Reason: "Started", Program: "a"})
	tw.waitTimer(t)
	tw.clock.Step(DefaultInterval)
	waitfor.Condition(t, waitTimeout, func() bool { return nLogged() == 2 }, "the failures to be logged")
	mu.Lock()
	all := strings.Join(logged, "\n")
	mu.Unlock()
	for _, want := range []string{
		`"msg"="Write status failed" "error"=`, `"program"="a" "path"="` + StatusPath(dir, "a") + `"`,
		`"msg"="Append events failed"`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %s:\n%s", want, all)
		}
	}

	// While the fault lasts: a retry of its own after each back-off, each
	// twice as long as the one before up to retryMax, and no new log line.
	want := retryMin
	for range 8 {
		waitfor.Condition(t, waitTimeout, func() bool {
			next, ok := tw.clock.Next()
			return ok && tw.clock.Pending() == 1 && next == want
		}, "the retry timer")
		armed := tw.clock.Armed()
		tw.clock.Step(want)
		waitfor.Condition(t, waitTimeout, func() bool { return tw.clock.Armed() > armed }, "a retry and the next timer")
		want = min(2*want, retryMax)
	}
	if n := nLogged(); n != 2 {
		t.Errorf("%d log lines: a lasting fault is logged once", n)
	}

	// The fault clears: the next retry writes, with no other change.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return tw.clock.Pending() == 1 }, "the retry timer")
	tw.clock.Step(retryMax)
	waitfor.Condition(t, waitTimeout, func() bool {
		got, ok := restartsOnDisk(dir, "a")
		return ok && got == 1
	}, "the failed status to be written by a retry")
	if evs, err := ReadEvents(dir, "a"); err != nil || len(evs) != 1 {
		t.Errorf("failed events not retried: %v, %v", evs, err)
	}
	waitfor.Condition(t, waitTimeout, func() bool { return nLogged() == 4 }, "the recovery to be logged")
	mu.Lock()
	if all := strings.Join(logged[2:], "\n"); strings.Count(all, `"msg"="Written again after failing"`) != 2 {
		t.Errorf("recovery log:\n%s", all)
	}
	mu.Unlock()
	// Then it rests: no timer.
	waitfor.Condition(t, waitTimeout, func() bool { return tw.clock.Pending() == 0 }, "the writer to rest")
}

func TestNextRetry(t *testing.T) {
	for _, c := range []struct {
		prev   time.Duration
		failed bool
		want   time.Duration
	}{
		{0, false, 0}, {retryMax, false, 0}, {0, true, retryMin}, {retryMin, true, 2 * retryMin},
		{retryMax / 2, true, retryMax}, {retryMax, true, retryMax},
	} {
		if got := nextRetry(c.prev, c.failed); got != c.want {
			t.Errorf("nextRetry(%v, %v) = %v, want %v", c.prev, c.failed, got, c.want)
		}
	}
}

// TestWriterInvalidName checks that a status with an unusable name is reported
// once and dropped, not retried forever.
func TestWriterInvalidName(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(WriterOptions{Dir: dir, Log: logr.Discard()})
	w.Update(status("../x", 1))
	if err := w.Flush(); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Flush = %v, want ErrInvalidName", err)
	}
	if err := w.Flush(); err != nil {
		t.Errorf("second Flush = %v, want nil: invalid names are not retried", err)
	}
}

// TestWriterUpdateDefaults checks that Update fills in what the caller
// left empty, in what is written.
func TestWriterUpdateDefaults(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(WriterOptions{Dir: dir})
	st := status("w", 1)
	w.Update(st)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(StatusPath(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Instances[0].Restarts != 1 {
		t.Errorf("restarts = %d, want 1", got.Status.Instances[0].Restarts)
	}
	if got.APIVersion != APIVersion || got.Kind != Kind || got.Status.UpdatedAt.IsZero() {
		t.Errorf("defaults not filled in: %+v", got)
	}
}

func TestNewWriterDefaults(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, DefaultInterval},
		{-time.Second, DefaultInterval},
		{20 * time.Millisecond, 20 * time.Millisecond},
		{5 * time.Second, maxInterval},
	}
	for _, tt := range tests {
		if got := NewWriter(WriterOptions{Interval: tt.in}).interval; got != tt.want {
			t.Errorf("Interval %v became %v, want %v", tt.in, got, tt.want)
		}
	}
	if c := NewWriter(WriterOptions{}).clock; !reflect.DeepEqual(c, clock.Clock(clock.Real{})) {
		t.Errorf("default clock = %T", c)
	}
}

// TestWriterRemovesStaleTemps checks that Run clears temp files a crashed
// writer left, and nothing else.
func TestWriterRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".w.status.yaml.tmp-42")
	other := filepath.Join(dir, ".keep")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tw := startWriter(t, WriterOptions{Dir: dir})
	tw.stop()
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("other hidden file removed: %v", err)
	}
}

// TestWriterStretchesAfterSlowFlush: after a flush that took d, the next
// batch coalesces for 20 d instead of the interval, at most 500ms, and only
// as long as a change still reaches the disk within 1s.
func TestWriterStretchesAfterSlowFlush(t *testing.T) {
	dir := t.TempDir()
	tw := startWriter(t, WriterOptions{Dir: dir})
	var slowMu sync.Mutex
	slow := time.Duration(0)
	tw.onWrite = func(string) {
		slowMu.Lock()
		d := slow
		slowMu.Unlock()
		tw.clock.Step(d) // the write took d
		tw.writes.Add(1)
	}
	steps := []struct{ flush, next time.Duration }{
		{10 * time.Millisecond, 200 * time.Millisecond},  // 20 x 10ms
		{100 * time.Millisecond, maxInterval},            // 2s, capped
		{300 * time.Millisecond, 400 * time.Millisecond}, // 1s - 2 x 300ms
		{time.Second, DefaultInterval},                   // no room left: no stretch
	}
	next := DefaultInterval
	for i, st := range steps {
		slowMu.Lock()
		slow = st.flush
		slowMu.Unlock()
		tw.Update(status("w", i+1))
		tw.waitTimer(t)
		if got, _ := tw.clock.Next(); got != next {
			t.Fatalf("batch %d: timer of %v, want %v", i, got, next)
		}
		tw.clock.Step(next)
		waitfor.Condition(t, waitTimeout, func() bool { return tw.writes.Load() == int64(i+1) }, "the write")
		next = st.next
	}
	tw.Update(status("w", 99))
	tw.waitTimer(t)
	if got, _ := tw.clock.Next(); got != next {
		t.Fatalf("after a 1s flush: timer of %v, want %v", got, next)
	}
}
