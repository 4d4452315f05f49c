package top

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The screen, top to bottom: the header (the daemon's state), the table
// (column header and rows), the pane when one is open (title and lines),
// the status line (what is being typed, asked or was done) and the footer
// (the keys). An overlay (help, graph, palette, signal menu, edit errors)
// takes the place of the table and pane.

// bodyHeight is the height between the header and the status line.
func (m *Model) bodyHeight() int { return max(m.h-3, 2) }

// tableHeight is the height of the table, column header included.
func (m *Model) tableHeight() int {
	if m.pane == noPane {
		return m.bodyHeight()
	}
	return max(m.bodyHeight()/3, 4)
}

// paneHeight is the number of lines of the pane, its title excluded.
func (m *Model) paneHeight() int {
	return max(m.bodyHeight()-m.tableHeight()-1, 1)
}

// overlayHeight is the number of lines of an overlay, its title excluded.
func (m *Model) overlayHeight() int { return max(m.bodyHeight()-1, 1) }

// View draws the screen: exactly h lines, none wider than w.
func (m *Model) View() string {
	lines := make([]string, 0, m.h)
	lines = append(lines, m.header())
	switch {
	case m.overlay != noOverlay:
		lines = append(lines, m.overlayView()...)
	default:
		lines = append(lines, m.tableView(m.tableHeight())...)
		for len(lines) < 1+m.tableHeight() {
			lines = append(lines, "")
		}
		if m.pane != noPane {
			lines = append(lines, m.paneTitle())
			lines = append(lines, m.text.view(m.theme, m.w, m.paneHeight())...)
		}
	}
	for len(lines) < m.h-2 {
		lines = append(lines, "")
	}
	lines = lines[:max(m.h-2, 1)]
	lines = append(lines, m.statusLine(), m.footer())
	for i, l := range lines {
		lines[i] = cut(l, m.w)
	}
	return strings.Join(lines[:min(len(lines), m.h)], "\n")
}

// header says where the view looks and whether a daemon holds it.
func (m *Model) header() string {
	t := m.theme
	daemon := t.bad("no daemon holds this directory")
	if m.held {
		daemon = t.good(fmt.Sprintf("daemon running (pid %d)", m.pid))
	}
	ready, want := 0, 0
	for _, p := range m.progs {
		ready += p.st.Status.ReadyReplicas
		want += p.st.Status.Replicas
	}
	s := t.bold("reconciled top") + "  " + daemon + fmt.Sprintf("  %d programs, %d/%d ready", len(m.progs), ready, want)
	if m.sortBy != sortName {
		s += "  sort:" + m.sortBy.String()
	}
	if m.filter != "" {
		s += "  /" + m.filter
	}
	if m.opt.Selector != nil && !m.opt.Selector.Empty() {
		s += "  -l " + m.opt.Selector.String()
	}
	if m.loadErr != nil {
		s += "  " + t.bad(m.loadErr.Error())
	}
	return s + "  " + t.dim(m.opt.Dir)
}

// paneTitle names what the pane shows, and where its search stands.
func (m *Model) paneTitle() string {
	t := m.theme
	title := "── " + m.text.title + " "
	if info := m.text.matchInfo(); info != "" {
		title += "── " + info + " "
	}
	if m.text.live && !m.text.follow {
		title += "── scrolled (G or end: follow) "
	}
	if m.focusPane {
		title += "── tab: table "
	} else {
		title += "── tab: pane "
	}
	if w := m.w - len([]rune(title)); w > 0 {
		title += strings.Repeat("─", w)
	}
	return t.dim(title)
}

// statusLine is the line being typed, the question asked, or the outcome
// of the last action.
func (m *Model) statusLine() string {
	t := m.theme
	switch {
	case m.input != nil:
		return m.input.view()
	case m.confirm != "":
		return t.warn("delete " + m.confirm + "? its manifest is removed and the daemon stops it: y deletes, any other key keeps it")
	case m.flash != "" && m.flashBad:
		return t.bad(m.flash)
	case m.flash != "":
		return m.flash
	}
	var busy []string
	for _, name := range slices.Sorted(maps.Keys(m.pending)) {
		if p := m.pending[name]; p.progress != "" {
			busy = append(busy, name+" "+p.verb+": "+p.progress)
		}
	}
	return strings.Join(busy, "; ")
}

// footer lists the keys that work now.
func (m *Model) footer() string {
	var keys [][2]string
	switch {
	case m.input != nil:
		keys = [][2]string{{"enter", "done"}, {"esc", "cancel"}}
	case m.overlay == paletteOverlay || m.overlay == signalOverlay:
		keys = [][2]string{{"↑↓", "choose"}, {"enter", "run"}, {"esc", "close"}}
	case m.overlay == editErrOverlay:
		keys = [][2]string{{"enter", "edit again"}, {"esc", "discard"}}
	case m.overlay != noOverlay:
		keys = [][2]string{{"↑↓", "scroll"}, {"esc", "close"}, {"q", "quit"}}
	case m.focusPane:
		keys = [][2]string{{"↑↓", "scroll"}, {"/", "search"}, {"n/N", "next/prev"}, {"tab", "table"}, {"esc", "close"}, {"?", "help"}}
	default:
		keys = [][2]string{{"enter", "expand"}, {"s", "start/stop"}, {"r", "restart"}, {"+/-", "scale"},
			{"x", "signal"}, {"d", "delete"}, {"l/e/i", "logs/events/describe"}, {"E", "edit"}, {"/", "filter"}, {":", "all"}, {"?", "help"}, {"q", "quit"}}
	}
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString("  ")
		}
		b.WriteString(m.theme.key(k[0]) + " " + k[1])
	}
	return b.String()
}

// overlayView draws the overlay: a title and its lines.
func (m *Model) overlayView() []string {
	t := m.theme
	switch m.overlay {
	case paletteOverlay:
		return m.paletteView()
	case signalOverlay:
		return m.signalView()
	}
	title := "── " + m.ov.title + " "
	if info := m.ov.matchInfo(); info != "" {
		title += "── " + info + " "
	}
	if w := m.w - len([]rune(title)); w > 0 {
		title += strings.Repeat("─", w)
	}
	return append([]string{t.dim(title)}, m.ov.view(t, m.w, m.overlayHeight())...)
}
