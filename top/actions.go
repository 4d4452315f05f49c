package top

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
)

// Actions change manifests through package change, the code of the
// command line's verbs, in a command (off the update loop: an edit waits
// for the directory's edit lock). Their end comes back as an actionMsg;
// from then on the change is followed in the status files until the
// daemon has carried it out ("2/3 ready"), or fails.

// progress is a change being followed.
type progress struct {
	verb     string // "scale to 3", "stop", "restart"
	target   change.Target
	progress string // the last progress line: "2/3 ready"
}

// actionMsg is the end of an action.
type actionMsg struct {
	program string
	verb    string
	done    string         // what to say: "web scaled to 3"
	target  *change.Target // what to follow; nil: nothing
	err     error
}

// signals are the signal menu's entries.
func signals() []string {
	return []string{"HUP", "USR1", "USR2", "TERM", "INT", "QUIT", "KILL", "STOP", "CONT", "WINCH"}
}

// selectedProgram returns the selected row's program, or says why none.
func (m *Model) selectedProgram() (row, bool) {
	r, ok := m.selected()
	if !ok {
		m.fail("no program selected")
	}
	return r, ok
}

func (m *Model) fail(msg string) {
	m.flash, m.flashBad = msg, true
}

// editCmd runs edit in a command and reports its outcome as an actionMsg.
func (m *Model) editCmd(program, verb string, edit func(d manifest.Dir) (manifest.Result, error), say func(r manifest.Result) string) tea.Cmd {
	d := m.src.manifests
	now := m.now()
	return func() tea.Msg {
		r, err := edit(d)
		if err != nil {
			return actionMsg{program: program, verb: verb, err: err}
		}
		t := change.Applied(r, now)
		msg := actionMsg{program: program, verb: verb, done: say(r), target: &t}
		if !r.Changed {
			msg.target = nil
		}
		return msg
	}
}

// startStop stops a program that is wanted running, starts one that is not.
func (m *Model) startStop() tea.Cmd {
	r, ok := m.selectedProgram()
	if !ok {
		return nil
	}
	want, verb := spec.DesiredStopped, "stop"
	if r.p.desired() == spec.DesiredStopped {
		want, verb = spec.DesiredRunning, "start"
	}
	past := map[string]string{"start": "started", "stop": "stopped"}[verb]
	return m.editCmd(r.p.name, verb, func(d manifest.Dir) (manifest.Result, error) {
		return change.SetDesired(d, r.p.name, want)
	}, func(res manifest.Result) string {
		if !res.Changed {
			return fmt.Sprintf("%s unchanged (already desired: %s)", res.Name, want)
		}
		return res.Name + " " + past
	})
}

// scale adds delta to the selected program's replicas.
func (m *Model) scale(delta int) tea.Cmd {
	r, ok := m.selectedProgram()
	if !ok {
		return nil
	}
	return m.editCmd(r.p.name, "scale", func(d manifest.Dir) (manifest.Result, error) {
		return change.ScaleBy(d, r.p.name, delta)
	}, func(res manifest.Result) string {
		if !res.Changed {
			return fmt.Sprintf("%s unchanged (replicas: %d)", res.Name, res.Program.Spec.Replicas)
		}
		return fmt.Sprintf("%s scaled to %d", res.Name, res.Program.Spec.Replicas)
	})
}

// restart restarts the selected program rolling, as `reconciled restart
// NAME` does, or the selected instance, as `reconciled restart NAME-i`.
func (m *Model) restart() tea.Cmd {
	r, ok := m.selectedProgram()
	if !ok {
		return nil
	}
	if r.in == nil {
		now := m.now()
		return m.editCmd(r.p.name, "restart", func(d manifest.Dir) (manifest.Result, error) {
			return change.Restart(d, r.p.name, now)
		}, func(res manifest.Result) string { return res.Name + " restarting" })
	}
	ctx, stateDir := m.ctx, m.src.stateDir
	program, index, name := r.p.name, r.in.Index, r.in.Name
	t := change.Target{Name: program, Kind: change.Restarted, Index: index, Since: m.now(), Before: r.in.StartedAt}
	return func() tea.Msg {
		err := reconciler.RestartInstance(ctx, stateDir, program, index, false)
		return actionMsg{program: program, verb: "restart " + name, done: name + " restarting", target: &t, err: err}
	}
}

// openSignals opens the signal menu.
func (m *Model) openSignals() {
	if _, ok := m.selectedProgram(); ok {
		m.overlay, m.choice = signalOverlay, 0
	}
}

func (m *Model) signalView() []string {
	t := m.theme
	r, _ := m.selected()
	what := "every instance of " + r.p.name
	if r.in != nil {
		what = r.in.Name
	}
	out := []string{t.dim(fit("── send a signal to "+what+" (through the daemon) ", m.w))}
	for i, s := range signals() {
		line := fit("  SIG"+s, m.w)
		if i == m.choice {
			if t.color {
				line = t.selected(line)
			} else {
				line = ">" + line[1:]
			}
		}
		out = append(out, line)
	}
	return out
}

func (m *Model) signalKey(s string) tea.Cmd {
	switch s {
	case "up", "k":
		m.choice = max(m.choice-1, 0)
	case "down", "j":
		m.choice = min(m.choice+1, len(signals())-1)
	case "esc", "q", "x":
		m.overlay = noOverlay
	case "enter":
		m.overlay = noOverlay
		return m.sendSignal(signals()[m.choice])
	}
	return nil
}

// sendSignal sends sig to the selected instance, or to every instance of
// the selected program, as `reconciled signal` does with --timeout 0.
func (m *Model) sendSignal(sig string) tea.Cmd {
	r, ok := m.selectedProgram()
	if !ok {
		return nil
	}
	ctx, stateDir := m.ctx, m.src.stateDir
	program, index, what := r.p.name, -1, "every instance of "+r.p.name
	if r.in != nil {
		index, what = r.in.Index, r.in.Name
	}
	return func() tea.Msg {
		err := reconciler.SendSignal(ctx, stateDir, program, index, sig)
		return actionMsg{program: program, verb: "signal", done: "sent " + sig + " to " + what, err: err}
	}
}

// askDelete asks whether to delete the selected program.
func (m *Model) askDelete() {
	if r, ok := m.selectedProgram(); ok {
		m.confirm = r.p.name
	}
}

// answerDelete deletes the program asked about on "y", as `reconciled
// delete` does.
func (m *Model) answerDelete(yes bool) tea.Cmd {
	name := m.confirm
	m.confirm = ""
	if !yes {
		m.flash, m.flashBad = name+" kept", false
		return nil
	}
	d, now := m.src.manifests, m.now()
	return func() tea.Msg {
		if err := change.Delete(d, name); err != nil {
			return actionMsg{program: name, verb: "delete", err: err}
		}
		t := change.Target{Name: name, Kind: change.Deleted, Since: now}
		return actionMsg{program: name, verb: "delete", done: name + " deleted", target: &t}
	}
}

// actionDone shows an action's outcome and follows what it changed.
func (m *Model) actionDone(a actionMsg) {
	if a.err != nil {
		m.fail(a.program + ": " + actionError(a.err))
		return
	}
	m.flash, m.flashBad = a.done, false
	m.reload(changes{manifests: true}) // at once, not at the watcher's next word
	if a.target == nil {
		delete(m.pending, a.program)
		return
	}
	m.pending[a.program] = &progress{verb: a.verb, target: *a.target}
	m.checkProgress()
}

// actionError says what went wrong in one line.
func actionError(err error) string {
	var inv *manifest.InvalidError
	switch {
	case errors.As(err, &inv):
		first := ""
		if len(inv.Errs) > 0 {
			first = ": " + inv.Errs[0].Error()
		}
		return inv.Path + " is invalid, nothing was changed (E edits it)" + first
	case errors.Is(err, manifest.ErrNotFound):
		return "no manifest (deleted?)"
	case errors.Is(err, reconciler.ErrNoDaemon):
		return "no daemon holds the directory: nothing to send it to"
	}
	return firstLine(err.Error())
}

// checkProgress looks at the followed changes again in the statuses just
// read: a change carried out ends with its final word, a failure in red.
func (m *Model) checkProgress() {
	for _, name := range slices.Sorted(maps.Keys(m.pending)) {
		pr := m.pending[name]
		st, exists := m.src.statuses[name]
		done, line, fail := pr.target.Check(st, exists)
		switch {
		case fail != nil:
			m.fail(pr.target.Label() + ": " + fail.Error())
			delete(m.pending, name)
		case done:
			m.flash, m.flashBad = pr.target.Label()+": "+pr.verb+" done ("+line+")", false
			delete(m.pending, name)
		default:
			pr.progress = line
		}
	}
}
