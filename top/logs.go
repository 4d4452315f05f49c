package top

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/reconciled/reconciled/internal/regfile"
)

// tailLines is how many lines of each stream a log pane starts with, as
// `reconciled logs --tail` would print.
const tailLines = 200

// maxPartial is the longest line kept back waiting for its end.
const maxPartial = 64 << 10

// logBase is the base name of the daemon's log file of an instance.
func logBase(program string, index int, stream string) string {
	return fmt.Sprintf("%s-%d.%s.log", program, index, stream)
}

// logStream is one followed file: standard output or standard error of
// the instance.
type logStream struct {
	path    string
	stderr  bool
	f       *os.File
	partial []byte
}

// follower follows both streams of one instance. Output is read when the
// watcher says a file was written, stream by stream in the order of the
// writes, so that the two interleave by arrival (to within one redraw).
// What was written before the pane opened carries no arrival order (the
// files keep none): the start shows the tail of standard output, then that
// of standard error.
type follower struct {
	instance string
	streams  []*logStream
}

// open starts following: it returns the last tail lines of each stream,
// with a note for a stream that has no file to follow.
func (f *follower) open(tail int, notes []string) []paneLine {
	var out []paneLine
	for _, n := range notes {
		out = append(out, paneLine{text: n, kind: lineNote})
	}
	for _, s := range f.streams {
		fh, err := os.Open(s.path)
		if err != nil {
			continue // appears with the instance's first output
		}
		s.f = fh
		data, err := readTail(fh, tail)
		if err == nil {
			out = append(out, s.lines(data)...)
		}
	}
	return out
}

// read returns what was appended to the stream at path since the last
// read: after a rotation or truncation, the rest of the old file and the
// new one from its start.
func (f *follower) read(path string) []paneLine {
	for _, s := range f.streams {
		if s.path == path {
			return s.read()
		}
	}
	return nil
}

func (s *logStream) read() []paneLine {
	if s.f == nil {
		fh, err := os.Open(s.path)
		if err != nil {
			return nil
		}
		s.f = fh
	}
	data, _ := io.ReadAll(io.LimitReader(s.f, 4<<20))
	out := s.lines(data)
	if regfile.Replaced(s.f, s.path) {
		rest, _ := io.ReadAll(io.LimitReader(s.f, 4<<20))
		out = append(out, s.lines(rest)...)
		s.f.Close()
		s.f = nil
		return append(out, s.read()...)
	}
	return out
}

// lines splits data into pane lines, keeping a last line without its end
// back for the next read.
func (s *logStream) lines(data []byte) []paneLine {
	data = append(s.partial, data...)
	s.partial = nil
	kind := lineText
	if s.stderr {
		kind = lineStderr
	}
	var out []paneLine
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(data) < maxPartial {
				s.partial = append([]byte(nil), data...)
				break
			}
			i = len(data)
		}
		out = append(out, paneLine{text: clean(string(bytes.TrimSuffix(data[:i], []byte("\r")))), kind: kind})
		data = data[min(i+1, len(data)):]
	}
	return out
}

func (f *follower) close() {
	for _, s := range f.streams {
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
	}
}

// readTail returns the last n lines of f and leaves f at its end.
func readTail(f *os.File, n int) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	const chunk = 64 << 10
	var buf []byte
	start := size
	for start > 0 {
		step := min(int64(chunk), start)
		start -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		buf = append(b, buf...)
		if bytes.Count(bytes.TrimSuffix(buf, []byte("\n")), []byte("\n")) >= n {
			break
		}
	}
	body := bytes.TrimSuffix(buf, []byte("\n"))
	cut := 0
	for i, seen := len(body)-1, 0; i >= 0; i-- {
		if body[i] == '\n' {
			if seen++; seen == n {
				cut = i + 1
				break
			}
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return nil, err
	}
	return buf[cut:], nil
}
