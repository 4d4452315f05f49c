package output

import (
	"bytes"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TerminalOptions configure a Terminal.
type TerminalOptions struct {
	// Color paints each prefix in a colour of its program's own.
	Color bool
	// Timestamps puts the time the daemon read each line before its prefix.
	Timestamps bool
	// Now is the clock of the timestamps (default time.Now).
	Now func() time.Time
}

// palette is foreman's and overmind's kind of colours: ANSI foreground
// colours and their bright variants, without black and white, and without
// red, which reads as an error.
var palette = [...]string{"36", "33", "32", "35", "34", "96", "93", "92", "95", "94"}

// Terminal is the attach writer: every instance's lines, each prefixed
// "NAME-i | ", written to one io.Writer. A batch of lines goes out in a
// single Write under a lock, so lines never interleave mid-line. The names
// are padded to the longest seen so far, so that the bars line up.
type Terminal struct {
	w    io.Writer
	opts TerminalOptions

	mu    sync.Mutex
	width int    // the longest instance name seen
	buf   []byte // reused for every batch
}

// NewTerminal returns a Terminal writing to w.
func NewTerminal(w io.Writer, o TerminalOptions) *Terminal {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Terminal{w: w, opts: o}
}

// ShouldColor reports whether output to f gets colours: f is a terminal and
// NO_COLOR (https://no-color.org) is unset or empty in env.
func ShouldColor(f *os.File, env []string) bool {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "NO_COLOR="); ok && v != "" {
			return false
		}
	}
	if f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// ColorOf returns the ANSI colour of program: the same for every run.
func ColorOf(program string) string {
	h := fnv.New32a()
	h.Write([]byte(program))
	return palette[h.Sum32()%uint32(len(palette))]
}

// Writer returns the io.Writer of instance (NAME-i) of program. Each Write
// should hold whole lines; a chunk that does not end in a newline (a line
// longer than a pump's buffer, a last line without one) is ended with one.
func (t *Terminal) Writer(program, instance string) io.Writer {
	t.mu.Lock()
	t.width = max(t.width, len(instance))
	t.mu.Unlock()
	return &terminalWriter{t: t, name: instance, color: ColorOf(program)}
}

type terminalWriter struct {
	t     *Terminal
	name  string
	color string
}

func (w *terminalWriter) Write(p []byte) (int, error) {
	t := w.t
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf[:0]
	var stamp string
	if t.opts.Timestamps {
		stamp = t.opts.Now().Format("15:04:05.000") + " "
	}
	pad := max(0, t.width-len(w.name))
	for rest := p; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		if t.opts.Color {
			b = append(b, "\x1b["...)
			b = append(b, w.color...)
			b = append(b, 'm')
		}
		b = append(b, stamp...)
		b = append(b, w.name...)
		for range pad {
			b = append(b, ' ')
		}
		b = append(b, " |"...)
		if t.opts.Color {
			b = append(b, "\x1b[0m"...)
		}
		b = append(b, ' ')
		b = append(b, line...)
		b = append(b, '\n')
		if len(b) >= flushAt { // still under the lock: no line of another instance comes between
			if _, err := t.w.Write(b); err != nil {
				return 0, err
			}
			b = b[:0]
		}
	}
	t.buf = b[:0]
	if len(b) > 0 {
		if _, err := t.w.Write(b); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flushAt bounds the batch buffer: a batch is written in pieces of about
// this size (whole lines each).
const flushAt = 64 << 10
