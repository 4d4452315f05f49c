package main

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// cellTable collects the cells of a `status` table in one buffer and writes
// them aligned exactly as text/tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
// does, without its per-byte work and the strings of fmt: a table of
// thousands of instances is printed in a few milliseconds. Every row has
// the same number of cells; all but the last are aligned.
//
// tabwriter treats tabs, vertical tabs, new lines, form feeds and the byte
// 0xff in a cell as structure; a table with any of them in a cell is
// written through tabwriter itself, so that it prints as it always did.
type cellTable struct {
	buf   []byte
	ends  []int // the end of each cell in buf, row after row
	cols  int   // cells per row, set by the first row
	start int   // where the current cell starts
	plain bool  // no cell holds a byte tabwriter would interpret
}

func newCellTable() *cellTable { return &cellTable{plain: true} }

// cell ends the current cell, whose text was appended to t.buf.
func (t *cellTable) cell() {
	if t.plain {
		for _, c := range t.buf[t.start:] {
			if c == '\t' || c == '\v' || c == '\n' || c == '\f' || c == tabwriter.Escape {
				t.plain = false
				break
			}
		}
	}
	t.ends = append(t.ends, len(t.buf))
	t.start = len(t.buf)
}

// str adds a cell holding s.
func (t *cellTable) str(s string) {
	t.buf = append(t.buf, s...)
	t.cell()
}

// int adds a cell holding v.
func (t *cellTable) int(v int) {
	t.buf = strconv.AppendInt(t.buf, int64(v), 10)
	t.cell()
}

// endRow ends a row; the first row sets the number of cells of all.
func (t *cellTable) endRow() {
	if t.cols == 0 {
		t.cols = len(t.ends)
	}
}

// write writes the cellTable to w.
func (t *cellTable) write(w io.Writer) error {
	if t.cols == 0 {
		return nil
	}
	if !t.plain || len(t.ends)%t.cols != 0 {
		return t.writeTabwriter(w)
	}
	widths := make([]int, t.cols-1)
	from := 0
	for i, end := range t.ends {
		if c := i % t.cols; c < t.cols-1 {
			widths[c] = max(widths[c], utf8.RuneCount(t.buf[from:end]))
		}
		from = end
	}
	for c := range widths {
		widths[c] += 2 // tabwriter's padding
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	pad := strings.Repeat(" ", 64)
	from = 0
	for i, end := range t.ends {
		text := t.buf[from:end]
		from = end
		_, _ = bw.Write(text)
		c := i % t.cols
		if c == t.cols-1 {
			_ = bw.WriteByte('\n')
			continue
		}
		for n := widths[c] - utf8.RuneCount(text); n > 0; n -= len(pad) {
			_, _ = bw.WriteString(pad[:min(n, len(pad))])
		}
	}
	return bw.Flush()
}

// writeTabwriter writes the cellTable through tabwriter, cell by cell.
func (t *cellTable) writeTabwriter(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	from := 0
	for i, end := range t.ends {
		_, _ = tw.Write(t.buf[from:end])
		from = end
		if i%t.cols == t.cols-1 {
			_, _ = tw.Write([]byte{'\n'})
		} else {
			_, _ = tw.Write([]byte{'\t'})
		}
	}
	return tw.Flush()
}

// appendHumanDuration appends d as humanDuration writes it.
func appendHumanDuration(b []byte, d time.Duration) []byte {
	two := func(b []byte, a int64, ua byte, c int64, uc byte) []byte {
		b = strconv.AppendInt(b, a, 10)
		b = append(b, ua)
		b = strconv.AppendInt(b, c, 10)
		return append(b, uc)
	}
	switch {
	case d < 0:
		return append(b, "0s"...)
	case d < time.Minute:
		b = strconv.AppendInt(b, int64(d.Seconds()), 10)
		return append(b, 's')
	case d < time.Hour:
		return two(b, int64(d.Minutes()), 'm', int64(d.Seconds())%60, 's')
	case d < 48*time.Hour:
		return two(b, int64(d.Hours()), 'h', int64(d.Minutes())%60, 'm')
	}
	return two(b, int64(d.Hours())/24, 'd', int64(d.Hours())%24, 'h')
}
