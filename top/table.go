package top

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/reconciled/reconciled/status"
)

// sortKey orders the programs.
type sortKey int

const (
	sortName sortKey = iota
	sortRestarts
	sortCPU
	sortMemory
	sortKeys // how many there are
)

func (k sortKey) String() string {
	return [...]string{"name", "restarts", "cpu", "memory"}[k]
}

// rowKey identifies a row across reloads: a program (index -1) or one of
// its instances.
type rowKey struct {
	program string
	index   int
}

// row is one line of the table.
type row struct {
	p  *program
	in *status.Instance // nil: the program's own row
}

func (r row) key() rowKey {
	if r.in == nil {
		return rowKey{r.p.name, -1}
	}
	return rowKey{r.p.name, r.in.Index}
}

// restarts is the program's restarts: the sum over its instances.
func (p *program) restarts() int {
	n := 0
	for _, in := range p.st.Status.Instances {
		n += in.Restarts
	}
	return n
}

// buildRows lays out the programs that pass the filter, sorted, each
// followed by its instances when expanded.
func (m *Model) buildRows() {
	var ps []*program
	for _, p := range m.progs {
		if m.filter == "" || strings.Contains(p.name, m.filter) {
			ps = append(ps, p)
		}
	}
	u := m.usage
	switch m.sortBy {
	case sortRestarts:
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].restarts() > ps[j].restarts() })
	case sortCPU:
		sort.SliceStable(ps, func(i, j int) bool { return u.programCPU(ps[i]) > u.programCPU(ps[j]) })
	case sortMemory:
		sort.SliceStable(ps, func(i, j int) bool { return u.programMemory(ps[i]) > u.programMemory(ps[j]) })
	}
	rows := make([]row, 0, len(ps))
	for _, p := range ps {
		rows = append(rows, row{p: p})
		if m.expanded[p.name] {
			for i := range p.st.Status.Instances {
				rows = append(rows, row{p: p, in: &p.st.Status.Instances[i]})
			}
		}
	}
	m.rows = rows
	m.cursor = m.indexOf(m.sel)
}

// indexOf finds the row of k after a reload: the same row, else its
// program's, else the nearest in place.
func (m *Model) indexOf(k rowKey) int {
	for i, r := range m.rows {
		if r.key() == k {
			return i
		}
	}
	for i, r := range m.rows {
		if r.p.name == k.program && r.in == nil {
			return i
		}
	}
	return min(m.cursor, max(len(m.rows)-1, 0))
}

// selected returns the selected row; ok false when the table is empty.
func (m *Model) selected() (row, bool) {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return row{}, false
	}
	return m.rows[m.cursor], true
}

// moveTo selects row i.
func (m *Model) moveTo(i int) {
	if len(m.rows) == 0 {
		return
	}
	m.cursor = min(max(i, 0), len(m.rows)-1)
	m.sel = m.rows[m.cursor].key()
}

// columns are the widths of the table at width w: NAME takes what the
// longest name needs (10 to 28), MESSAGE the rest.
type columns struct {
	name, state, ready, pid, uptime, restarts, cpu, mem, msg int
}

// Without usage (u) there are no CPU% and MEM columns.
func layout(w int, rows []row, usage bool) columns {
	c := columns{state: 9, ready: 5, pid: 7, uptime: 6, restarts: 4, cpu: 5, mem: 6}
	gaps := 8 // the spaces between the columns
	if !usage {
		c.cpu, c.mem, gaps = 0, 0, 6
	}
	longest := 4
	for _, r := range rows {
		n := len(r.p.name)
		if r.in != nil {
			n = 2 + len(r.in.Name)
		}
		longest = max(longest, n)
	}
	c.name = min(max(longest, 10), 28)
	fixed := 2 + c.name + c.state + c.ready + c.pid + c.uptime + c.restarts + c.cpu + c.mem + gaps
	c.msg = max(w-fixed-1, 0)
	if c.msg < 8 && c.name > 10 {
		c.name = max(10, c.name-(8-c.msg))
		c.msg = max(w-(fixed-longest+c.name)-1, 0)
	}
	return c
}

func (c columns) line(marker, name, state, ready, pid, uptime, restarts, cpu, mem, msg string) string {
	s := marker + fit(name, c.name) + " " + fit(state, c.state) + " " + fitRight(ready, c.ready) + " " +
		fitRight(pid, c.pid) + " " + fitRight(uptime, c.uptime) + " " + fitRight(restarts, c.restarts) + " "
	if c.cpu > 0 {
		s += fitRight(cpu, c.cpu) + " " + fitRight(mem, c.mem) + " "
	}
	return s + fit(msg, c.msg)
}

// fitRight aligns s to the right in w columns.
func fitRight(s string, w int) string {
	if len(s) >= w {
		return fit(s, w)
	}
	return strings.Repeat(" ", w-len(s)) + s
}

// tableView draws the column header and height rows of the table, the
// selected one in reverse video (or marked ">" without colour).
func (m *Model) tableView(height int) []string {
	c := layout(m.w, m.rows, m.usageShown())
	out := []string{m.theme.bold(fit(c.line("  ", "NAME", "STATE", "READY", "PID", "UPTIME", "RST", "CPU%", "MEM", "MESSAGE"), m.w))}
	height--
	if len(m.rows) == 0 {
		msg := "  no programs"
		switch {
		case m.filter != "":
			msg += " match the filter /" + m.filter + " (esc clears it)"
		case m.opt.Selector != nil && !m.opt.Selector.Empty():
			msg += " match -l " + m.opt.Selector.String()
		default:
			msg += " in " + m.opt.Dir
		}
		return append(out, m.theme.dim(msg))
	}
	// Keep the selected row in view.
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+height {
		m.offset = m.cursor - height + 1
	}
	m.offset = max(min(m.offset, len(m.rows)-height), 0)
	now := m.now()
	for i := m.offset; i < len(m.rows) && i < m.offset+height; i++ {
		out = append(out, m.rowLine(c, m.rows[i], i == m.cursor, now))
	}
	return out
}

// rowLine draws one row.
func (m *Model) rowLine(c columns, r row, sel bool, now time.Time) string {
	t := m.theme
	marker := "  "
	if sel && !t.color {
		marker = "> "
	}
	var cells [9]string
	var sev severity
	if r.in == nil {
		p := r.p
		s := p.st.Status
		phase := s.Phase
		if !p.hasSt {
			phase = "-"
		}
		cpu, mem := m.usage.programCells(p)
		cells = [9]string{p.name, strings.ToUpper(phase), fmt.Sprintf("%d/%d", s.ReadyReplicas, s.Replicas), "", "",
			fmt.Sprint(p.restarts()), cpu, mem, m.programMessage(p)}
		if !p.hasSt {
			cells[2], cells[5] = "-", "-"
		}
		sev = stateSeverity(phase)
		if msg := m.pending[p.name]; msg != nil && msg.progress != "" {
			cells[8] = msg.verb + ": " + msg.progress
		}
	} else {
		in := r.in
		pid, uptime := "-", "-"
		if in.Pid > 0 {
			pid = fmt.Sprint(in.Pid)
			if in.StartedAt != nil && m.held {
				uptime = shortDuration(now.Sub(*in.StartedAt))
			}
		}
		ready := "no"
		if in.Ready {
			ready = "yes"
		}
		cpu, mem := m.usage.instanceCells(r.p.name, *in)
		cells = [9]string{"  " + in.Name, shownState(*in), ready, pid, uptime, fmt.Sprint(in.Restarts), cpu, mem, instanceMessage(*in, now)}
		sev = stateSeverity(cells[1])
	}
	line := c.line(marker, cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8])
	line = fit(line, m.w)
	if sel {
		if t.color {
			return t.selected(line)
		}
		return line
	}
	if sev == sevNone || !t.color {
		return line
	}
	// Colour the state cell only.
	start := len(marker) + len(fit(cells[0], c.name)) + 1
	end := start + len(fit(cells[1], c.state))
	if end > len(line) {
		return line
	}
	return line[:start] + t.severity(sev, line[start:end]) + line[end:]
}

// shownState is an instance's state as the tables show it: UNHEALTHY for
// one RUNNING while a probe fails, as `reconciled status` shows it.
func shownState(in status.Instance) string {
	if in.State == "RUNNING" && in.Health == "Unhealthy" {
		return "UNHEALTHY"
	}
	return in.State
}

// programMessage is the first condition of p that is not as it should be,
// or the manifest's first error, as `reconciled status` says it.
func (m *Model) programMessage(p *program) string {
	if len(p.errs) > 0 {
		return "invalid manifest: " + p.errs[0].Error()
	}
	if p.path == "" {
		return "no manifest (deleted)"
	}
	s := p.st.Status
	for _, c := range s.Conditions {
		if c.Type == status.ConditionSpecValid && c.Status == status.ConditionFalse {
			return "invalid spec: " + firstLine(c.Message)
		}
	}
	for _, c := range s.Conditions {
		if c.Type == status.ConditionProgressing && c.Status == status.ConditionTrue {
			return c.Reason + ": " + firstLine(c.Message)
		}
	}
	for _, c := range s.Conditions {
		if c.Type == "Flapping" && c.Status == status.ConditionTrue {
			return "Flapping: " + firstLine(c.Message)
		}
	}
	if !p.hasSt {
		return "no status yet"
	}
	return ""
}

// instanceMessage is the instance's message, else its last exit.
func instanceMessage(in status.Instance, now time.Time) string {
	if in.Message != "" {
		return firstLine(in.Message)
	}
	if e := in.LastExit; e != nil && in.Pid == 0 {
		s := fmt.Sprintf("exit %d", e.Code)
		if e.Signal != "" {
			s = "signal " + e.Signal
		}
		if e.Reason != "" {
			s += " " + e.Reason
		}
		return s + " " + shortDuration(now.Sub(e.At)) + " ago"
	}
	if in.State == "STOPPED" && in.StartedAt == nil {
		return "Not started"
	}
	return ""
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// shortDuration prints as kubectl's AGE does: 45s, 3m12s, 2h5m, 3d4h.
func shortDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func itoa(n int) string { return fmt.Sprint(n) }
