package spec

// The manifest's bytes as lines, for the editor's offsets and insertions.

import (
	"bytes"
	"unicode/utf8"
)

// source is the manifest's bytes with its line starts.
type source struct {
	data   []byte
	starts []int // byte offset of each line (index 0 is line 1)
	eol    string
}

func newSource(data []byte) *source {
	s := &source{data: data, starts: []int{0}, eol: "\n"}
	for i, c := range data {
		if c == '\n' {
			s.starts = append(s.starts, i+1)
		}
	}
	if bytes.Contains(data, []byte("\r\n")) {
		s.eol = "\r\n"
	}
	return s
}

func (s *source) lines() int { return len(s.starts) }

// line returns line n (1-based) without its line break.
func (s *source) line(n int) []byte {
	start := s.starts[n-1]
	end := len(s.data)
	if n < len(s.starts) {
		end = s.starts[n] - 1
	}
	return bytes.TrimSuffix(s.data[start:end], []byte("\r"))
}

// offset converts the parser's line and column (1-based, counted in
// characters, a leading byte order mark not counted) to a byte offset.
func (s *source) offset(line, col int) (int, bool) {
	if line < 1 || line > len(s.starts) || col < 1 {
		return 0, false
	}
	off := s.starts[line-1]
	if line == 1 && bytes.HasPrefix(s.data, []byte("\ufeff")) {
		off += 3
	}
	for c := 1; c < col; c++ {
		if off >= len(s.data) || s.data[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(s.data[off:])
		off += size
	}
	return off, true
}

// lineEnd returns the offset just past line n's line break, and whether it
// has one (the last line of a file may not).
func (s *source) lineEnd(n int) (int, bool) {
	if n < len(s.starts) {
		return s.starts[n], true
	}
	return len(s.data), false
}

// docEnd is the line of a document end or start marker after the first
// line, or the line after the last.
func (s *source) docEnd() int {
	for n := 2; n <= s.lines(); n++ {
		l := s.line(n)
		if bytes.HasPrefix(l, []byte("---")) || bytes.HasPrefix(l, []byte("...")) {
			if len(l) == 3 || isSpace(l[3]) {
				return n
			}
		}
	}
	return s.lines() + 1
}

// lastContentLine is the last line in [from, bound) that is neither blank
// nor only a comment: where the value of the key on line from ends.
func (s *source) lastContentLine(from, bound int) int {
	last := from
	for n := from + 1; n < bound && n <= s.lines(); n++ {
		t := bytes.TrimSpace(s.line(n))
		if len(t) > 0 && t[0] != '#' {
			last = n
		}
	}
	return last
}
