package output

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeNow is a clock the test steps.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeNow) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func readArrivals(t *testing.T, path string) []Arrival {
	t.Helper()
	var as []Arrival
	for _, line := range strings.Split(strings.TrimSuffix(readFile(t, path), "\n"), "\n") {
		a, ok := ParseArrival(line)
		if !ok {
			t.Fatalf("%s: bad record %q", path, line)
		}
		as = append(as, a)
	}
	return as
}

func write(t *testing.T, w interface{ Write([]byte) (int, error) }, s string) {
	t.Helper()
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// The auto log files of an instance record their chunks in its index: a
// record per process's first chunk (with the run), per change of stream,
// and per granule of time; not per chunk.
func TestArrivalIndex(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1000, 0)}
	g := NewGroup(Options{Now: clock.now})
	dir := t.TempDir()
	out := g.LazyFile(filepath.Join(dir, LogName("web-0", "stdout")), FileOptions{})
	errw := g.LazyFile(filepath.Join(dir, LogName("web-0", "stderr")), FileOptions{})
	run := clock.now()

	clock.add(time.Second)
	write(t, out, "a\n") // first of the run
	clock.add(ArrivalGranularity / 4)
	write(t, out, "b\n") // same stream, same granule: no record
	clock.add(ArrivalGranularity / 4)
	write(t, errw, "c\n") // first of the run on stderr
	write(t, out, "d\n")  // stderr wrote since: a record
	clock.add(5 * ArrivalGranularity)
	write(t, out, "e\n") // a granule later: a record
	out.Close()
	errw.Close()

	stdoutIno := inode(t, filepath.Join(dir, "web-0.stdout.log"))
	stderrIno := inode(t, filepath.Join(dir, "web-0.stderr.log"))
	t0 := run.Add(time.Second)
	want := []Arrival{
		{At: t0, Stream: "stdout", Ino: stdoutIno, Offset: 0, Run: run},
		{At: t0.Add(ArrivalGranularity / 2), Stream: "stderr", Ino: stderrIno, Offset: 0, Run: run},
		{At: t0.Add(ArrivalGranularity / 2), Stream: "stdout", Ino: stdoutIno, Offset: 4},
		{At: t0.Add(ArrivalGranularity/2 + 5*ArrivalGranularity), Stream: "stdout", Ino: stdoutIno, Offset: 6},
	}
	got := readArrivals(t, filepath.Join(dir, IndexName("web-0")))
	if len(got) != len(want) {
		t.Fatalf("records:\n%+v\nwant\n%+v", got, want)
	}
	for i := range want {
		if !got[i].At.Equal(want[i].At) || !got[i].Run.Equal(want[i].Run) || got[i].Stream != want[i].Stream ||
			got[i].Ino != want[i].Ino || got[i].Offset != want[i].Offset {
			t.Errorf("record %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := len(g.indexes); n != 0 {
		t.Errorf("%d indexes still open after their files closed", n)
	}

	// A new process: a new run.
	clock.add(time.Second)
	run2 := clock.now()
	out = g.LazyFile(filepath.Join(dir, LogName("web-0", "stdout")), FileOptions{})
	write(t, out, "f\n")
	out.Close()
	got = readArrivals(t, filepath.Join(dir, IndexName("web-0")))
	if last := got[len(got)-1]; !last.Run.Equal(run2) || last.Offset != 8 || last.Stream != "stdout" {
		t.Errorf("first record of a new run: %+v", last)
	}
}

// A rotation of the log file: the next chunk is recorded with the new
// file's inode.
func TestArrivalIndexRotation(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1000, 0)}
	g := NewGroup(Options{Now: clock.now})
	dir := t.TempDir()
	path := filepath.Join(dir, LogName("job-3", "stdout"))
	out := g.LazyFile(path, FileOptions{MaxSize: 10, MaxBackups: 1})
	write(t, out, "12345678\n") // 9 bytes
	first := inode(t, path)
	// Rotates first: goes to a new file, but it began in the old one's
	// granule: no record (its bytes at the start of the new file belong to
	// the record before).
	write(t, out, "abc\n")
	write(t, out, "def\n") // the same granule, but another file: a record
	out.Close()
	got := readArrivals(t, filepath.Join(dir, IndexName("job-3")))
	second := inode(t, path)
	if len(got) != 2 || got[0].Ino != first || got[0].Offset != 0 || got[1].Ino != second || got[1].Offset != 4 {
		t.Errorf("records %+v; inodes %d then %d", got, first, second)
	}
	if readFile(t, path+".1") != "12345678\n" || readFile(t, path) != "abc\ndef\n" {
		t.Errorf("files: %q %q", readFile(t, path+".1"), readFile(t, path))
	}
}

// Only the auto log names have an index, and a quiet instance has none.
func TestArrivalIndexOnlyForAutoLogs(t *testing.T) {
	g := NewGroup(Options{})
	dir := t.TempDir()
	other := g.LazyFile(filepath.Join(dir, "app.log"), FileOptions{})
	write(t, other, "x\n")
	other.Close()
	quiet := g.LazyFile(filepath.Join(dir, LogName("q-0", "stdout")), FileOptions{})
	quiet.Close()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "app.log" {
		t.Errorf("files: %v", entries)
	}
}

func TestParseArrival(t *testing.T) {
	for _, bad := range []string{"", "1 o 2", "1 x 2 3", "a o 2 3", "1 o 2 -3", "1 o 2 3 z", "1 o 2 3 4 5"} {
		if a, ok := ParseArrival(bad); ok {
			t.Errorf("%q parsed as %+v", bad, a)
		}
	}
	a, ok := ParseArrival("1500 e 7 42 1000")
	if !ok || a.Stream != "stderr" || a.Ino != 7 || a.Offset != 42 || a.At.UnixNano() != 1500 || a.Run.UnixNano() != 1000 {
		t.Errorf("%+v %v", a, ok)
	}
}

// BenchmarkAutoLogChunk is the cost of one chunk of 100 bytes into an auto
// log file: "plain" without an index (a file target), "coalesced" with the
// index in a busy stream (a record per millisecond), "recorded" with a
// record for every chunk (chunks more than a millisecond apart: the most
// the index costs). hack/bench/README.md has the figures.
func BenchmarkAutoLogChunk(b *testing.B) {
	line := []byte(strings.Repeat("x", 99) + "\n")
	for _, mode := range []string{"plain", "coalesced", "recorded"} {
		b.Run(mode, func(b *testing.B) {
			clock := &fakeNow{t: time.Unix(1000, 0)}
			g := NewGroup(Options{Now: clock.now})
			dir := b.TempDir()
			name := LogName("b-0", "stdout")
			if mode == "plain" {
				name = "plain.log"
			}
			w := g.LazyFile(filepath.Join(dir, name), FileOptions{MaxSize: 50 << 20, MaxBackups: 1})
			defer w.Close()
			step := time.Microsecond
			if mode == "recorded" {
				step = 2 * ArrivalGranularity
			}
			b.SetBytes(int64(len(line)))
			b.ResetTimer()
			for range b.N {
				clock.add(step)
				if _, err := w.Write(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An AutoLog is a LazyFile of LogName(instance, stream) in its directory,
// with the arrival index beside it, made without a path: its Name says the
// path, and nothing is created before the first write. Autologs of the same
// kind share it.
func TestAutoLog(t *testing.T) {
	clock := &fakeNow{t: time.Unix(1000, 0)}
	g := NewGroup(Options{Now: clock.now})
	dir := filepath.Join(t.TempDir(), "logs") // made with the first write
	fo := FileOptions{MaxSize: 1 << 20, MaxBackups: 1, CreateDir: true}
	run := clock.now()
	out := g.AutoLog(dir, "web-0", "stdout", fo)
	errw := g.AutoLog(dir, "web-0", "stderr", fo)
	if name, want := out.(interface{ Name() string }).Name(), filepath.Join(dir, "web-0.stdout.log"); name != want {
		t.Errorf("Name %q, want %q", name, want)
	}
	if exists(dir) {
		t.Errorf("%s exists before the first write", dir)
	}
	if other := g.AutoLog(dir, "web-1", "stdout", fo); other.(*lazyFile).kind != out.(*lazyFile).kind {
		t.Error("two autologs of one kind do not share it")
	}
	clock.add(time.Second)
	write(t, out, "a\n")
	write(t, errw, "b\n")
	out.Close()
	errw.Close()
	if got := readFile(t, filepath.Join(dir, "web-0.stdout.log")); got != "a\n" {
		t.Errorf("stdout log holds %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "web-0.stderr.log")); got != "b\n" {
		t.Errorf("stderr log holds %q", got)
	}
	got := readArrivals(t, filepath.Join(dir, IndexName("web-0")))
	if len(got) != 2 || got[0].Stream != "stdout" || got[1].Stream != "stderr" || !got[0].Run.Equal(run) || !got[1].Run.Equal(run) {
		t.Errorf("records %+v, want the first of the run of each stream", got)
	}
}
