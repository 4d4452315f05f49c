package top

import (
	"strings"
)

// maxPaneLines bounds what a pane keeps: a log pane drops its oldest lines
// past it.
const maxPaneLines = 10000

// lineKind says how a pane line is drawn.
type lineKind int

const (
	lineText   lineKind = iota
	lineStderr          // from standard error: marked
	lineNote            // said by top, not read from a file
	lineError           // an error, in red
)

type paneLine struct {
	text string
	kind lineKind
}

// textPane is a scrollable list of lines with a search: the log, events,
// describe, help and graph views all are one.
type textPane struct {
	title  string
	lines  []paneLine
	top    int  // index of the first line shown
	follow bool // keep the end in view as lines come
	// live: lines come at the end (logs, events), so that scrolling to the
	// end follows them again.
	live bool

	search  string
	matches []int // indexes of the lines that match search
	cur     int   // the current match, an index into matches
}

// set replaces the lines, keeping the scroll position where it can.
func (p *textPane) set(lines []paneLine) {
	p.lines = lines
	p.trim()
	p.research()
}

// add appends lines, dropping the oldest past maxPaneLines.
func (p *textPane) add(lines ...paneLine) {
	p.lines = append(p.lines, lines...)
	p.trim()
	p.research()
}

func (p *textPane) trim() {
	if over := len(p.lines) - maxPaneLines; over > 0 {
		p.lines = append([]paneLine(nil), p.lines[over:]...)
		p.top = max(p.top-over, 0)
	}
}

// view returns height lines of width w, and keeps the scroll position in
// range (at the end when following).
func (p *textPane) view(t theme, w, height int) []string {
	p.clamp(height)
	out := make([]string, 0, height)
	q := strings.ToLower(p.search)
	for i := p.top; i < len(p.lines) && len(out) < height; i++ {
		out = append(out, p.drawLine(t, i, q, w))
	}
	for len(out) < height {
		out = append(out, "")
	}
	return out
}

// clamp keeps top within the lines; following, at the end.
func (p *textPane) clamp(height int) {
	last := max(len(p.lines)-height, 0)
	if p.follow || p.top > last {
		p.top = last
	}
	p.top = max(p.top, 0)
}

// drawLine draws line i: a two-column gutter ("E" for standard error;
// without colour "*" for a match and ">" for the current one), then the
// text with the matches of q highlighted.
func (p *textPane) drawLine(t theme, i int, q string, w int) string {
	l := p.lines[i]
	gutter := "  "
	isMatch := q != "" && strings.Contains(strings.ToLower(l.text), q)
	current := isMatch && len(p.matches) > 0 && p.matches[p.cur] == i
	switch {
	case !t.color && current:
		gutter = "> "
	case !t.color && isMatch:
		gutter = "* "
	case l.kind == lineStderr:
		gutter = "E "
	}
	text := fit(l.text, w-2)
	if l.kind == lineStderr && t.color {
		gutter = t.bad(gutter)
	}
	switch {
	case isMatch && t.color:
		text = highlight(t, text, q, current)
	case l.kind == lineNote:
		text = t.dim(text)
	case l.kind == lineError:
		text = t.bad(text)
	}
	return gutter + text
}

// highlight marks every occurrence of q (lower case) in s; the current
// match's line in reverse video besides.
func highlight(t theme, s, q string, current bool) string {
	lower := strings.ToLower(s)
	if len(lower) != len(s) {
		return t.match(s) // case folding changed the length: mark it whole
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, q)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		b.WriteString(t.match(s[i : i+len(q)]))
		s, lower = s[i+len(q):], lower[i+len(q):]
	}
	if current {
		return t.selected(b.String())
	}
	return b.String()
}

// scroll moves the view by delta lines; scrolling to the end follows again.
func (p *textPane) scroll(delta, height int) {
	p.clamp(height)
	p.top += delta
	last := max(len(p.lines)-height, 0)
	p.top = min(max(p.top, 0), last)
	p.follow = p.top == last && p.live
}

func (p *textPane) home() { p.top, p.follow = 0, false }

func (p *textPane) end(height int) {
	p.top = max(len(p.lines)-height, 0)
	p.follow = p.live
}

// setSearch searches for q (case-insensitive) and shows the last match
// (the newest output), as less does from the end.
func (p *textPane) setSearch(q string, height int) {
	p.search = q
	p.research()
	if len(p.matches) > 0 {
		p.cur = len(p.matches) - 1
		p.show(p.matches[p.cur], height)
	}
}

func (p *textPane) research() {
	p.matches = p.matches[:0]
	if p.search == "" {
		p.cur = 0
		return
	}
	q := strings.ToLower(p.search)
	for i, l := range p.lines {
		if strings.Contains(strings.ToLower(l.text), q) {
			p.matches = append(p.matches, i)
		}
	}
	p.cur = min(p.cur, max(len(p.matches)-1, 0))
}

// next moves to the next match (dir 1) or the previous one (dir -1),
// wrapping around.
func (p *textPane) next(dir, height int) {
	if len(p.matches) == 0 {
		return
	}
	p.cur = (p.cur + dir + len(p.matches)) % len(p.matches)
	p.show(p.matches[p.cur], height)
}

// show scrolls so that line i is in view, and stops following.
func (p *textPane) show(i, height int) {
	if i < p.top || i >= p.top+height {
		p.top = max(i-height/2, 0)
	}
	p.follow = false
}

// matchInfo says where the search stands: "match 3/12", "no match".
func (p *textPane) matchInfo() string {
	switch {
	case p.search == "":
		return ""
	case len(p.matches) == 0:
		return "/" + p.search + ": no match"
	}
	return "/" + p.search + ": " + itoa(p.cur+1) + "/" + itoa(len(p.matches))
}
