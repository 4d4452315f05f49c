package top

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// theme styles text. With colour it writes SGR sequences (states in colour,
// the selected row in reverse video); without (NO_COLOR set, TERM dumb or
// unset) it writes plain text, and the selected row is marked with ">"
// instead.
type theme struct {
	color bool
}

// ColorWanted reports whether the environment allows colour: NO_COLOR unset
// (https://no-color.org) and a TERM other than dumb.
func ColorWanted(getenv func(string) string) bool {
	term := getenv("TERM")
	return getenv("NO_COLOR") == "" && term != "" && term != "dumb"
}

const (
	sgrReset   = "\x1b[0m"
	sgrBold    = "\x1b[1m"
	sgrDim     = "\x1b[2m"
	sgrReverse = "\x1b[7m"
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrCyan    = "\x1b[36m"
	sgrMatch   = "\x1b[30;43m" // black on yellow
)

func (t theme) wrap(sgr, s string) string {
	if !t.color || s == "" {
		return s
	}
	return sgr + s + sgrReset
}

func (t theme) bold(s string) string { return t.wrap(sgrBold, s) }
func (t theme) dim(s string) string  { return t.wrap(sgrDim, s) }
func (t theme) bad(s string) string  { return t.wrap(sgrRed, s) }
func (t theme) good(s string) string { return t.wrap(sgrGreen, s) }
func (t theme) warn(s string) string { return t.wrap(sgrYellow, s) }
func (t theme) key(s string) string  { return t.wrap(sgrCyan, s) }

// selected styles the selected line, already cut to its width.
func (t theme) selected(s string) string { return t.wrap(sgrReverse, s) }

// match highlights a search match.
func (t theme) match(s string) string { return t.wrap(sgrMatch, s) }

// severity is how a state or phase is coloured.
type severity int

const (
	sevNone severity = iota
	sevGood
	sevWarn
	sevBad
)

// stateSeverity colours states and phases: FATAL and failures red,
// BACKOFF, Degraded and the unhealthy yellow, RUNNING green.
func stateSeverity(s string) severity {
	switch strings.ToUpper(s) {
	case "FATAL", "FAILED":
		return sevBad
	case "BACKOFF", "DEGRADED", "UNHEALTHY", "PROGRESSING", "STOPPING", "STARTING":
		return sevWarn
	case "RUNNING", "COMPLETED", "READY":
		return sevGood
	}
	return sevNone
}

func (t theme) severity(sev severity, s string) string {
	switch sev {
	case sevGood:
		return t.good(s)
	case sevWarn:
		return t.warn(s)
	case sevBad:
		return t.bad(s)
	}
	return s
}

// fit cuts s (plain text) to width w, ending in "…" when cut, and pads it
// with spaces to exactly w.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}

// cut cuts s (which may hold SGR sequences) to width w, without padding.
func cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// clean makes text from a file safe to draw: escape sequences removed,
// tabs expanded, other control characters shown as "?".
func clean(s string) string {
	s = ansi.Strip(s)
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch {
		case r == '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
			continue
		case r < 0x20 || r == 0x7f:
			r = '?'
		}
		b.WriteRune(r)
		col++
	}
	return b.String()
}
