package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/reconciled/reconciled/internal/regfile"
	"github.com/reconciled/reconciled/reconciler/output"
)

// How `logs` reads an instance's output: its `auto` log files, one per
// stream, and the arrival index the daemon writes beside them (see
// reconciler/output/arrivals.go). Every byte of a stream belongs to the
// last record of that stream at or before it: the record gives the byte
// its time, its run and its place in the order of arrival. The two
// streams' lines are merged by that place. Bytes before any record (logs
// older than the index, or an index that has lost its oldest records) have
// no time and come first, stdout's before stderr's.

// logLine is one line of an instance's output.
type logLine struct {
	stream string
	at     time.Time // when the daemon read it; zero: not known
	run    time.Time // the start of the run that wrote it; zero: not known
	seq    int       // the place of its record in the index; -1: none
	text   []byte    // without its newline
	nl     bool      // it ended with a newline (false only for a last line)
}

// record is an index record of one stream, with its place and run.
type record struct {
	output.Arrival
	seq int
	run time.Time
}

// instanceLog reads one instance's output as it grows.
type instanceLog struct {
	dir, name string
	streams   []*streamLog
	index     indexTail
	seq       int
	runs      map[string]time.Time // per stream: the run of its last record
	started   bool
}

func newInstanceLog(dir, name string, streams []string) *instanceLog {
	l := &instanceLog{dir: dir, name: name, runs: map[string]time.Time{},
		index: indexTail{path: filepath.Join(dir, output.IndexName(name))}}
	for _, s := range streams {
		l.streams = append(l.streams, &streamLog{stream: s, path: filepath.Join(dir, output.LogName(name, s))})
	}
	return l
}

// hasFiles reports whether any log file of the instance's streams exists.
func (l *instanceLog) hasFiles() bool {
	for _, s := range l.streams {
		if _, err := os.Stat(s.path); err == nil {
			return true
		}
	}
	return false
}

// poll reads what was written since the last poll and returns its whole
// lines in the order of arrival; final also returns a last line without a
// newline. At the first poll each stream starts at start(stream) (a file
// offset; 0: the beginning).
func (l *instanceLog) poll(final bool, start func(s *streamLog) int64) []logLine {
	// The data first, then the index: a record is written before its
	// chunk, so every byte read has its record in what the index holds
	// after it.
	var chunks [][]dataChunk
	for _, s := range l.streams {
		chunks = append(chunks, s.read(!l.started, start))
	}
	recs := map[string][]record{}
	for _, a := range l.index.read() {
		if a.Run.IsZero() {
			a.Run = l.runs[a.Stream]
		}
		l.runs[a.Stream] = a.Run
		recs[a.Stream] = append(recs[a.Stream], record{Arrival: a, seq: l.seq, run: a.Run})
		l.seq++
	}
	var lines []logLine
	for i, s := range l.streams {
		if !l.started {
			s.begin(recs[s.stream])
		} else {
			s.queue = append(s.queue, recs[s.stream]...)
		}
		for _, c := range chunks[i] {
			lines = s.assign(lines, c)
		}
		if final {
			lines = s.flush(lines)
		}
	}
	l.started = true
	sort.SliceStable(lines, func(a, b int) bool { return lines[a].seq < lines[b].seq })
	return lines
}

// hasIndex reports whether the instance's arrival index was found.
func (l *instanceLog) hasIndex() bool { return l.index.found }

func (l *instanceLog) close() {
	for _, s := range l.streams {
		if s.f != nil {
			s.f.Close()
		}
	}
	l.index.close()
}

// dataChunk is bytes read from one file at an offset.
type dataChunk struct {
	ino  uint64
	off  int64
	data []byte
	// first: the file was opened for this chunk (a new file, after a
	// rotation or at the start).
	first bool
}

// streamLog reads one stream's log file as it grows, across rotations and
// truncations, and gives its bytes their records.
type streamLog struct {
	stream, path string
	f            *os.File
	ino          uint64
	pos          int64

	queue   []record // records not reached yet, in order
	owner   *record  // the record of the bytes at pos; nil: none
	partial []byte   // a line begun, waiting for its newline
	pmeta   *record  // the record of its first byte
}

// read returns what was appended since the last read: the rest of a file
// that was rotated or truncated away, then its successor from the start.
// At the first read the file starts at start(s).
func (s *streamLog) read(first bool, start func(*streamLog) int64) []dataChunk {
	var out []dataChunk
	if s.f == nil {
		if !s.open() {
			return nil
		}
		if first && start != nil {
			s.pos = start(s)
		}
		if c, ok := s.readRest(true); ok {
			out = append(out, c)
		}
		return out
	}
	opened := false
	if c, ok := s.readRest(false); ok {
		out = append(out, c)
	}
	if now, err := os.Stat(s.path); err == nil {
		cur, err := s.f.Stat()
		switch {
		case err != nil || !os.SameFile(now, cur):
			s.f.Close()
			s.f = nil
			opened = s.open()
		case cur.Size() < s.pos: // truncated: the same file starts again
			s.pos = 0
			opened = true
		}
	}
	if opened {
		if c, ok := s.readRest(true); ok {
			out = append(out, c)
		}
	}
	return out
}

func (s *streamLog) open() bool {
	// A regular file only: a FIFO or a link to /dev/zero named like a log
	// must not block or feed the reader for ever.
	f, err := regfile.Open(s.path, true)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	s.f, s.pos = f, 0
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return true
}

// readRest reads the file from pos to its end.
func (s *streamLog) readRest(first bool) (dataChunk, bool) {
	fi, err := s.f.Stat()
	if err != nil || fi.Size() <= s.pos {
		return dataChunk{}, first
	}
	b := make([]byte, fi.Size()-s.pos)
	n, err := s.f.ReadAt(b, s.pos)
	if err != nil && !errors.Is(err, io.EOF) {
		return dataChunk{}, first
	}
	c := dataChunk{ino: s.ino, off: s.pos, data: b[:n], first: first}
	s.pos += int64(n)
	return c, true
}

// begin takes the stream's records at the first poll: those of its current
// file, and the record before them, which owns the bytes at the file's
// start that a rotation carried over. The current file's records are the
// last run of records with its inode and offsets that do not go down (an
// inode number is reused once a file is gone; a truncation restarts the
// offsets).
func (s *streamLog) begin(recs []record) {
	if s.f == nil {
		// No file yet: the records wait for it (assign drops those of
		// other files when it comes).
		s.queue = recs
		return
	}
	last := -1
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Ino == s.ino {
			last = i
			break
		}
	}
	if last < 0 {
		// None for this file yet: its bytes (if any) came after every
		// record, carried over by the last one if that was the file before.
		if n := len(recs); n > 0 {
			s.owner = &recs[n-1]
		}
		return
	}
	first := last
	for first > 0 && recs[first-1].Ino == s.ino && recs[first-1].Offset <= recs[first].Offset {
		first--
	}
	if first > 0 {
		s.owner = &recs[first-1]
	}
	s.queue = recs[first:]
}

// assign gives the bytes of c their records and appends the lines they
// complete.
func (s *streamLog) assign(lines []logLine, c dataChunk) []logLine {
	// Records of files that were never read (gone before this reader came,
	// or rotated away between two polls) stand before this file's: drop
	// them; the last of them owns this file's first bytes.
	if i := s.firstOf(c.ino); i > 0 {
		s.owner = &s.queue[i-1]
		s.queue = s.queue[i:]
	}
	a, data := c.off, c.data
	for len(data) > 0 {
		for len(s.queue) > 0 && s.queue[0].Ino == c.ino && s.queue[0].Offset <= a {
			s.owner = &s.queue[0]
			s.queue = s.queue[1:]
		}
		n := int64(len(data))
		if len(s.queue) > 0 && s.queue[0].Ino == c.ino && s.queue[0].Offset < a+n {
			n = s.queue[0].Offset - a
		}
		lines = s.split(lines, data[:n])
		a += n
		data = data[n:]
	}
	return lines
}

// firstOf returns the place in the queue of the first record of the file
// ino, or -1.
func (s *streamLog) firstOf(ino uint64) int {
	for i, r := range s.queue {
		if r.Ino == ino {
			return i
		}
	}
	return -1
}

// split cuts data, owned by s.owner, into lines.
func (s *streamLog) split(lines []logLine, data []byte) []logLine {
	for len(data) > 0 {
		if len(s.partial) == 0 {
			s.pmeta = s.owner
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.partial = append(s.partial, data...)
			return lines
		}
		text := append(s.partial, data[:i]...)
		s.partial = nil
		lines = append(lines, s.line(text, true))
		data = data[i+1:]
	}
	return lines
}

// flush ends a last line that has no newline.
func (s *streamLog) flush(lines []logLine) []logLine {
	if len(s.partial) > 0 {
		lines = append(lines, s.line(s.partial, false))
		s.partial = nil
	}
	return lines
}

func (s *streamLog) line(text []byte, nl bool) logLine {
	l := logLine{stream: s.stream, seq: -1, text: text, nl: nl}
	if r := s.pmeta; r != nil {
		l.at, l.run, l.seq = r.At, r.run, r.seq
	}
	return l
}

// indexTail reads an arrival index as it grows: at first its backup
// (NAME-i.index.1) and the index, then what is appended, across rotations.
type indexTail struct {
	path    string
	f       *os.File
	partial []byte
	found   bool // an index or its backup was there
	begun   bool
}

func (x *indexTail) read() []output.Arrival {
	var data []byte
	if !x.begun {
		x.begun = true
		if b, err := os.ReadFile(x.path + ".1"); err == nil {
			x.found = true
			data = append(data, b...)
		}
	}
	if x.f != nil {
		b, _ := io.ReadAll(x.f)
		data = append(data, b...)
		if now, err := os.Stat(x.path); err == nil {
			if cur, err := x.f.Stat(); err != nil || !os.SameFile(now, cur) {
				x.f.Close()
				x.f = nil
			}
		}
	}
	if x.f == nil {
		if f, err := regfile.Open(x.path, true); err == nil {
			x.f, x.found = f, true
			b, _ := io.ReadAll(f) // a regular file: it ends
			data = append(data, b...)
		}
	}
	data = append(x.partial, data...)
	x.partial = nil
	var out []output.Arrival
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			x.partial = append([]byte(nil), data...)
			break
		}
		if a, ok := output.ParseArrival(string(data[:i])); ok {
			out = append(out, a)
		}
		data = data[i+1:]
	}
	return out
}

func (x *indexTail) close() {
	if x.f != nil {
		x.f.Close()
	}
}
