package top

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/reconciled/reconciled/status"
)

// eventsShown is how many of a program's last events the events pane keeps.
const eventsShown = 500

// openPane opens pane k for the selected row, or closes it when it is
// already open for that row.
func (m *Model) openPane(k paneKind) {
	r, ok := m.selected()
	if !ok {
		return
	}
	if m.pane == k && m.paneFor == m.paneKey(k, r) {
		m.closePane()
		return
	}
	m.closePane()
	m.pane, m.focusPane = k, true
	m.showPane(r)
}

// paneKey is what pane k shows for row r: an instance for the logs (the
// first of a program), the program for the others.
func (m *Model) paneKey(k paneKind, r row) rowKey {
	if k != logsPane {
		return rowKey{r.p.name, -1}
	}
	if r.in != nil {
		return r.key()
	}
	index := 0
	if ins := r.p.st.Status.Instances; len(ins) > 0 {
		index = ins[0].Index
	}
	return rowKey{r.p.name, index}
}

// showPane fills the open pane for row r.
func (m *Model) showPane(r row) {
	m.paneFor = m.paneKey(m.pane, r)
	switch m.pane {
	case logsPane:
		m.openLogs(r.p, m.paneFor.index)
	case eventsPane:
		m.text = &textPane{title: "events " + r.p.name, live: true, follow: true}
		m.text.set(m.eventLines(r.p.name))
	case describePane:
		m.text = &textPane{title: "describe " + r.p.name}
		m.text.set(m.describeLines(r.p.name))
	}
}

// followSelection makes the open pane show the selected row.
func (m *Model) followSelection() {
	r, ok := m.selected()
	if !ok || m.pane == noPane || m.paneKey(m.pane, r) == m.paneFor {
		return
	}
	search := m.text.search
	if m.logs != nil {
		m.logs.close()
		m.logs = nil
	}
	m.showPane(r)
	if search != "" {
		m.text.setSearch(search, m.paneHeight())
	}
}

func (m *Model) closePane() {
	if m.logs != nil {
		m.logs.close()
		m.logs = nil
	}
	if m.watcher != nil {
		m.watcher.Follow(nil)
	}
	m.pane, m.focusPane, m.text = noPane, false, nil
}

// openLogs starts following instance index of p.
func (m *Model) openLogs(p *program, index int) {
	name := fmt.Sprintf("%s-%d", p.name, index)
	f := &follower{instance: name}
	var notes, paths []string
	for _, stream := range []string{"stdout", "stderr"} {
		path, why := m.src.logPath(p, index, stream)
		if path == "" {
			notes = append(notes, "no "+stream+" to follow ("+why+")")
			continue
		}
		f.streams = append(f.streams, &logStream{path: path, stderr: stream == "stderr"})
		paths = append(paths, path)
	}
	m.logs = f
	if m.watcher != nil {
		m.watcher.Follow(paths)
	}
	m.text = &textPane{title: "logs " + name + " (stdout and stderr; E marks stderr)", live: true, follow: true}
	lines := f.open(tailLines, notes)
	if len(lines) > 0 {
		lines = append(lines, paneLine{text: "── above: the tails of stdout, then stderr; below: as it arrives", kind: lineNote})
	} else {
		lines = append(lines, paneLine{text: "no output yet from " + name + ": waiting for it", kind: lineNote})
	}
	m.text.set(lines)
}

// refreshPane brings the open pane up to date with what c says changed.
func (m *Model) refreshPane(c changes) {
	if m.pane == noPane || m.text == nil {
		return
	}
	name := m.paneFor.program
	switch m.pane {
	case logsPane:
		if m.logs == nil {
			return
		}
		for _, path := range c.logs {
			if lines := m.logs.read(path); len(lines) > 0 {
				m.text.add(lines...)
			}
		}
	case eventsPane:
		if c.all || c.events[name] {
			m.text.set(m.eventLines(name))
		}
	case describePane:
		if c.all || c.manifests || c.statuses[name] || c.events[name] {
			m.text.set(m.describeLines(name))
		}
	}
}

// eventLines are the last events of program, oldest first.
func (m *Model) eventLines(program string) []paneLine {
	evs, err := status.ReadEvents(m.src.statusDir, program)
	if err != nil {
		return []paneLine{{text: err.Error(), kind: lineError}}
	}
	if len(evs) > eventsShown {
		evs = evs[len(evs)-eventsShown:]
	}
	if len(evs) == 0 {
		return []paneLine{{text: "no events of " + program, kind: lineNote}}
	}
	out := make([]paneLine, 0, len(evs))
	for _, ev := range evs {
		obj := ev.Instance
		if obj == "" {
			obj = ev.Program
		}
		kind := lineText
		if ev.Type == status.EventWarning {
			kind = lineStderr
		}
		text := fmt.Sprintf("%s  %-7s  %-16s  %-12s  %s", ev.Time.Local().Format("15:04:05"), ev.Type, ev.Reason, obj, firstLine(ev.Message))
		out = append(out, paneLine{text: clean(text), kind: kind})
	}
	return out
}

// describeLines is what `reconciled describe` prints of program.
func (m *Model) describeLines(program string) []paneLine {
	if m.opt.Describe == nil {
		return []paneLine{{text: "describe is not available here", kind: lineNote}}
	}
	var b bytes.Buffer
	m.opt.Describe(&b, program)
	var out []paneLine
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		out = append(out, paneLine{text: clean(l)})
	}
	return out
}

// openHelp shows every key.
func (m *Model) openHelp() {
	var lines []paneLine
	for _, c := range commands() {
		lines = append(lines, paneLine{text: fmt.Sprintf("%-10s %s", c.key, c.name)})
	}
	lines = append(lines,
		paneLine{},
		paneLine{text: "In a pane: ↑/↓ pgup/pgdn home/end (G) scroll, / searches, n/N next/previous match.", kind: lineNote},
		paneLine{text: "Every change edits the manifest as the command line does; the daemon carries it out.", kind: lineNote},
		paneLine{text: "Colours follow NO_COLOR and TERM=dumb: without colour the selected row is marked >.", kind: lineNote})
	m.ov = &textPane{title: "help (esc closes)"}
	m.ov.set(lines)
	m.overlay = helpOverlay
}

// openPalette shows every action by name, filtered by what is typed.
func (m *Model) openPalette() {
	m.overlay = paletteOverlay
	m.choice = 0
	m.startInput(paletteInput, ": ")
}

// paletteChoices are the palette's entries that match what is typed.
func (m *Model) paletteChoices() []command {
	q := ""
	if m.input != nil {
		q = strings.ToLower(m.input.String())
	}
	var out []command
	for _, c := range paletteCommands() {
		if q == "" || strings.Contains(strings.ToLower(c.name), q) || strings.ToLower(c.key) == q {
			out = append(out, c)
		}
	}
	return out
}

func (m *Model) paletteView() []string {
	t := m.theme
	out := []string{t.dim(fit("── command palette: type to narrow, ↑↓ choose, enter runs ", m.w))}
	cs := m.paletteChoices()
	start := max(m.choice-m.overlayHeight()+1, 0)
	for i, c := range cs {
		if i < start {
			continue
		}
		if len(out) > m.overlayHeight() {
			break
		}
		line := fit(fmt.Sprintf("  %-9s %s", c.key, c.name), m.w)
		if i == m.choice {
			if t.color {
				line = t.selected(line)
			} else {
				line = ">" + line[1:]
			}
		}
		out = append(out, line)
	}
	if len(cs) == 0 {
		out = append(out, t.dim("  no action matches"))
	}
	return out
}
