package top

import (
	tea "github.com/charmbracelet/bubbletea"
)

// command is one thing the view can do: what the footer, the help (?) and
// the palette (:) list, with the key that does it.
type command struct {
	key  string // the key as shown
	name string
	run  func(m *Model) tea.Cmd
}

// commands lists every action, in the order of the help and the palette.
func commands() []command {
	return []command{
		{"↑/↓ k/j", "move in the table (or scroll the pane that has the focus)", nil},
		{"enter", "expand or collapse a program's instances", func(m *Model) tea.Cmd { m.toggleExpand(); return nil }},
		{"s", "stop a running program, start a stopped one (spec.desired)", func(m *Model) tea.Cmd { return m.startStop() }},
		{"r", "restart: a program rolling (one instance at a time), an instance row that instance", func(m *Model) tea.Cmd { return m.restart() }},
		{"+", "scale up by one (spec.replicas)", func(m *Model) tea.Cmd { return m.scale(1) }},
		{"-", "scale down by one", func(m *Model) tea.Cmd { return m.scale(-1) }},
		{"x", "send a signal to the instance (or every instance of the program)", func(m *Model) tea.Cmd { m.openSignals(); return nil }},
		{"d", "delete the program's manifest (asks; y confirms)", func(m *Model) tea.Cmd { m.askDelete(); return nil }},
		{"l", "logs pane: the selected instance's stdout and stderr, followed", func(m *Model) tea.Cmd { m.openPane(logsPane); return nil }},
		{"e", "events pane: the program's recent events", func(m *Model) tea.Cmd { m.openPane(eventsPane); return nil }},
		{"i", "describe pane: reconciled describe of the program", func(m *Model) tea.Cmd { m.openPane(describePane); return nil }},
		{"tab", "move the focus between the table and the pane", func(m *Model) tea.Cmd { m.focusPane = m.pane != noPane && !m.focusPane; return nil }},
		{"/", "filter programs by name (in the table), search (in a pane)", func(m *Model) tea.Cmd { m.startSlash(); return nil }},
		{"n / N", "next / previous search match", func(m *Model) tea.Cmd { m.nextMatch(1); return nil }},
		{"o", "sort by the next key: name, restarts, cpu, memory", func(m *Model) tea.Cmd { m.setSort((m.sortBy + 1) % sortKeys); return nil }},
		{"u", "hide or show the CPU% and MEM columns (hidden, usage is not read)", func(m *Model) tea.Cmd { m.toggleUsage(); return nil }},
		{"E", "edit the manifest in $EDITOR (validated before it is placed)", func(m *Model) tea.Cmd { return m.startEdit() }},
		{"g", "dependsOn graph: each edge's condition, met or not", func(m *Model) tea.Cmd { m.openGraph(); return nil }},
		{":", "command palette: every action by name", func(m *Model) tea.Cmd { m.openPalette(); return nil }},
		{"?", "help", func(m *Model) tea.Cmd { m.openHelp(); return nil }},
		{"esc", "close the overlay or pane, clear the filter", func(m *Model) tea.Cmd { m.escape(); return nil }},
		{"q ctrl-c", "quit (the terminal is restored)", func(m *Model) tea.Cmd { return tea.Quit }},
	}
}

// paletteCommands are the palette's entries: every command that acts,
// and the sorts one by one.
func paletteCommands() []command {
	var out []command
	for _, c := range commands() {
		if c.run != nil && c.key != ":" && c.key != "esc" && c.key != "tab" {
			out = append(out, c)
		}
	}
	for k := sortName; k < sortKeys; k++ {
		out = append(out, command{"o", "sort by " + k.String(), func(m *Model) tea.Cmd { m.setSort(k); return nil }})
	}
	out = append(out,
		command{"", "expand every program", func(m *Model) tea.Cmd { m.expandAll(true); return nil }},
		command{"", "collapse every program", func(m *Model) tea.Cmd { m.expandAll(false); return nil }})
	return out
}

// key handles a key press: first whatever is modal (a line being typed,
// a question, an overlay), then the pane with the focus, then the table.
func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyRunes && len(k.Runes) > 1 && m.input == nil {
		// Keys typed faster than they are read come as one message
		// ("/wor"): each is a key of its own, and may start an input
		// that takes the rest.
		var cmds []tea.Cmd
		for i, r := range k.Runes {
			if m.input != nil {
				m.input.text = append(m.input.text, k.Runes[i:]...)
				m.typedText()
				break
			}
			cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: k.Alt}))
		}
		return tea.Batch(cmds...)
	}
	s := k.String()
	if s == "ctrl+c" {
		return tea.Quit
	}
	if m.confirm != "" {
		return m.answerDelete(s == "y")
	}
	if m.input != nil {
		return m.typed(k)
	}
	m.flash, m.flashBad = "", false
	switch m.overlay {
	case signalOverlay:
		return m.signalKey(s)
	case editErrOverlay:
		return m.editErrKey(s)
	case helpOverlay, graphOverlay:
		if m.scrollKey(m.ov, s, m.overlayHeight()) {
			return nil
		}
		switch s {
		case "esc", "?", "g":
			m.overlay = noOverlay
			return nil
		case "q":
			return tea.Quit
		case "/":
			m.startInput(searchInput, "/")
		case "n":
			m.ov.next(1, m.overlayHeight())
		case "N":
			m.ov.next(-1, m.overlayHeight())
		}
		return nil
	}
	if m.focusPane && m.pane != noPane {
		if m.scrollKey(m.text, s, m.paneHeight()) {
			return nil
		}
		switch s {
		case "n":
			m.nextMatch(1)
			return nil
		case "N":
			m.nextMatch(-1)
			return nil
		}
	} else {
		switch s {
		case "up", "k":
			m.moveTo(m.cursor - 1)
			m.followSelection()
			return nil
		case "down", "j":
			m.moveTo(m.cursor + 1)
			m.followSelection()
			return nil
		case "pgup":
			m.moveTo(m.cursor - (m.tableHeight() - 1))
			m.followSelection()
			return nil
		case "pgdown":
			m.moveTo(m.cursor + (m.tableHeight() - 1))
			m.followSelection()
			return nil
		case "home":
			m.moveTo(0)
			m.followSelection()
			return nil
		case "end":
			m.moveTo(len(m.rows) - 1)
			m.followSelection()
			return nil
		}
	}
	for _, c := range commands() {
		if c.run != nil && matchesKey(c.key, s) {
			return c.run(m)
		}
	}
	return nil
}

// matchesKey reports whether the key s is one of shown, the keys as the
// help shows them ("n / N" names n; "q ctrl-c" names q and ctrl+c).
func matchesKey(shown, s string) bool {
	switch shown {
	case "n / N":
		return s == "n"
	case "q ctrl-c":
		return s == "q"
	case "enter", "tab", "esc":
		return s == shown
	}
	return shown == s
}

// scrollKey scrolls p on a movement key and reports whether s was one.
func (m *Model) scrollKey(p *textPane, s string, height int) bool {
	switch s {
	case "up", "k":
		p.scroll(-1, height)
	case "down", "j":
		p.scroll(1, height)
	case "pgup", "b":
		p.scroll(-(height - 1), height)
	case "pgdown", " ", "f":
		p.scroll(height-1, height)
	case "home":
		p.home()
	case "end", "G":
		p.end(height)
	default:
		return false
	}
	return true
}

// startInput starts typing a line for what.
func (m *Model) startInput(what inputKind, prompt string) {
	m.input = &lineInput{prompt: prompt}
	m.inputFor = what
}

// startSlash is "/": the filter in the table, the search in a pane.
func (m *Model) startSlash() {
	if m.focusPane && m.pane != noPane {
		m.startInput(searchInput, "/")
		return
	}
	m.startInput(filterInput, "filter: ")
	m.input.text = []rune(m.filter)
}

// typed handles a key while a line is typed. The filter applies as it is
// typed; the search when enter ends it; the palette runs its choice.
func (m *Model) typed(k tea.KeyMsg) tea.Cmd {
	if m.inputFor == paletteInput {
		switch k.String() {
		case "up", "ctrl+p":
			m.choice = max(m.choice-1, 0)
			return nil
		case "down", "ctrl+n":
			m.choice = max(min(m.choice+1, len(m.paletteChoices())-1), 0)
			return nil
		}
	}
	done, cancel := m.input.key(k)
	text := m.input.String()
	switch m.inputFor {
	case filterInput:
		if cancel {
			m.input.text = nil
		}
		m.typedText()
	case paletteInput:
		if done {
			cs := m.paletteChoices()
			m.input, m.overlay = nil, noOverlay
			if m.choice < len(cs) {
				return cs[m.choice].run(m) // may open an input of its own
			}
			return nil
		}
		if cancel {
			m.overlay = noOverlay
		}
		m.choice = 0
	case searchInput:
		if done {
			p, h := m.searchTarget()
			p.setSearch(text, h)
		}
	}
	if done || cancel {
		m.input = nil
	}
	return nil
}

// typedText applies what is typed so far: the filter as it is typed.
func (m *Model) typedText() {
	switch m.inputFor {
	case filterInput:
		m.filter = m.input.String()
		m.buildRows()
		m.moveTo(m.cursor)
	case paletteInput:
		m.choice = 0
	}
}

// searchTarget is the text the search applies to: the overlay's, else the
// pane's.
func (m *Model) searchTarget() (*textPane, int) {
	if m.overlay != noOverlay && m.ov != nil {
		return m.ov, m.overlayHeight()
	}
	return m.text, m.paneHeight()
}

func (m *Model) nextMatch(dir int) {
	if m.pane == noPane {
		return
	}
	m.text.next(dir, m.paneHeight())
}

// escape closes what is open, innermost first.
func (m *Model) escape() {
	switch {
	case m.overlay != noOverlay:
		m.overlay = noOverlay
	case m.pane != noPane:
		m.closePane()
	case m.filter != "":
		m.filter = ""
		m.buildRows()
	}
}

func (m *Model) setSort(k sortKey) {
	m.sortBy = k
	if k == sortCPU || k == sortMemory {
		m.sampleUsage()
	}
	m.buildRows()
}

// toggleUsage hides or shows the usage columns; shown again, they are
// read at once.
func (m *Model) toggleUsage() {
	m.hideUsage = !m.hideUsage
	if m.usageShown() {
		m.sampleUsage()
	}
}

func (m *Model) toggleExpand() {
	r, ok := m.selected()
	if !ok {
		return
	}
	if r.in != nil {
		m.openPane(logsPane)
		return
	}
	m.expanded[r.p.name] = !m.expanded[r.p.name]
	m.buildRows()
}

func (m *Model) expandAll(on bool) {
	for _, p := range m.progs {
		m.expanded[p.name] = on
	}
	if !on && m.sel.index >= 0 {
		m.sel.index = -1
	}
	m.buildRows()
}
