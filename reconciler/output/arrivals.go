package output

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// The arrival index of an instance: NAME-i.index beside its `auto` log
// files NAME-i.stdout.log and NAME-i.stderr.log. The two files keep what
// each stream wrote, as plain text; the index says when it came, so that
// `reconciled logs` can merge the two streams in the order the daemon read
// them, print times (--timestamps), start at a time (--since) and pick out
// one run of the instance (--previous). One line per record:
//
//	AT STREAM INO OFFSET [RUN]
//
// AT is when the daemon read the chunk (Unix nanoseconds); STREAM is o
// (stdout) or e (stderr); INO and OFFSET say where the chunk begins: the
// inode of the stream's log file and its size then. RUN, on the first
// record of each process (each pump), is when its output was set up, just
// before the process was started (Unix nanoseconds): the records from one
// RUN to the next are one run's.
//
// A record means: the stream's bytes from OFFSET on arrived at AT, up to
// the next record of that stream. The bytes at the start of a new file (a
// rotation in the middle of a chunk) belong to the record before. Records
// are few: a record is written before a chunk only when it is the
// process's first, the other stream wrote since the last record, the file
// changed, or ArrivalGranularity has passed since the last record. So a
// time is at most that much early, and the index costs one small write per
// granule of a busy stream, not one per chunk.
//
// The index is rotated at IndexMaxSize keeping one backup (NAME-i.index.1),
// so it may cover less than the log files: older bytes have no time. It is
// best effort: a record that cannot be written is lost, never the output.

// ArrivalGranularity is how long a stream's chunks share one record.
const ArrivalGranularity = time.Millisecond

// IndexMaxSize is the size past which an arrival index is rotated.
const IndexMaxSize = 4 << 20

// The names of an instance's `auto` files in the daemon's log directory.
const (
	stdoutSuffix = ".stdout.log"
	stderrSuffix = ".stderr.log"
	indexSuffix  = ".index"
)

// LogName is the name of the `auto` log file of stream (stdout or stderr)
// of instance (NAME-i).
func LogName(instance, stream string) string { return instance + "." + stream + ".log" }

// IndexName is the name of the arrival index of instance (NAME-i).
func IndexName(instance string) string { return instance + indexSuffix }

// indexOf returns the stream letter of an `auto` log path and, with
// withPath, its index's path (a string made only when asked: a lazy file
// asks at its first write).
func indexOf(path string, withPath bool) (index string, stream byte, ok bool) {
	for _, sfx := range [...]struct {
		suffix string
		stream byte
	}{{stdoutSuffix, 'o'}, {stderrSuffix, 'e'}} {
		if base, ok := strings.CutSuffix(path, sfx.suffix); ok {
			if withPath {
				index = base + indexSuffix
			}
			return index, sfx.stream, true
		}
	}
	return "", 0, false
}

// arrivalIndex is the writer of one instance's index, shared by the pumps
// of its two streams through the Group.
type arrivalIndex struct {
	path string
	refs int // under the Group's lock

	mu     sync.Mutex
	f      *File // opened at the first record
	failed bool  // the open failed: records are dropped until a new share
	// The last record written: the next one of the same stream and file
	// within ArrivalGranularity is not needed.
	lastStream byte
	lastIno    uint64
	lastAt     time.Time
	buf        []byte
}

// note records that stream's chunk at (ino, off) arrives now; run is the
// run's start (Unix nanoseconds) on the process's first record, else 0.
func (x *arrivalIndex) note(now time.Time, stream byte, ino uint64, off int64, run int64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if run == 0 && x.lastStream == stream && x.lastIno == ino && !now.Before(x.lastAt) && now.Sub(x.lastAt) < ArrivalGranularity {
		return
	}
	if x.f == nil {
		if x.failed {
			return
		}
		f, err := OpenFile(x.path, FileOptions{MaxSize: IndexMaxSize, MaxBackups: 1, CreateDir: true})
		if err != nil {
			x.failed = true
			return
		}
		x.f = f
	}
	b := strconv.AppendInt(x.buf[:0], now.UnixNano(), 10)
	b = append(b, ' ', stream, ' ')
	b = strconv.AppendUint(b, ino, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, off, 10)
	if run != 0 {
		b = append(b, ' ')
		b = strconv.AppendInt(b, run, 10)
	}
	b = append(b, '\n')
	x.buf = b
	if _, err := x.f.Write(b); err != nil {
		x.lastStream = 0 // the next chunk tries again
		return
	}
	x.lastStream, x.lastIno, x.lastAt = stream, ino, now
}

// shareIndex returns the index at path, shared by reference count.
func (g *Group) shareIndex(path string) *arrivalIndex {
	g.mu.Lock()
	defer g.mu.Unlock()
	x := g.indexes[path]
	if x == nil {
		x = &arrivalIndex{path: path}
		g.indexes[path] = x
	}
	x.refs++
	return x
}

// releaseIndex drops a reference, closing the index after the last.
func (g *Group) releaseIndex(x *arrivalIndex) {
	g.mu.Lock()
	x.refs--
	last := x.refs == 0
	if last {
		delete(g.indexes, x.path)
	}
	g.mu.Unlock()
	if last {
		x.mu.Lock()
		if x.f != nil {
			x.f.Close()
		}
		x.mu.Unlock()
	}
}

// Arrival is one record of an arrival index.
type Arrival struct {
	At     time.Time
	Stream string // stdout or stderr
	Ino    uint64
	Offset int64
	// Run is set on the first record of a process: when its output was
	// set up, just before it started.
	Run time.Time
}

// ParseArrival reads one line of an index (without its newline).
func ParseArrival(line string) (Arrival, bool) {
	f := strings.Fields(line)
	if len(f) != 4 && len(f) != 5 {
		return Arrival{}, false
	}
	at, err1 := strconv.ParseInt(f[0], 10, 64)
	ino, err2 := strconv.ParseUint(f[2], 10, 64)
	off, err3 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || off < 0 {
		return Arrival{}, false
	}
	a := Arrival{At: time.Unix(0, at), Ino: ino, Offset: off}
	switch f[1] {
	case "o":
		a.Stream = "stdout"
	case "e":
		a.Stream = "stderr"
	default:
		return Arrival{}, false
	}
	if len(f) == 5 {
		run, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return Arrival{}, false
		}
		a.Run = time.Unix(0, run)
	}
	return a, true
}
