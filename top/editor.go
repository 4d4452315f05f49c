package top

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

// E: the manifest is copied to a temporary file outside the directory (the
// daemon never sees it), the editor runs on the copy with the terminal
// handed over, and on its end the copy is validated. A valid copy replaces
// the manifest atomically through the manifest store, provided the
// manifest was not changed meanwhile; an invalid one shows its located
// errors, and enter edits it again, esc discards it. Nothing reaches the
// daemon before it is valid.

// editing is one E session.
type editing struct {
	name string // the program
	path string // the manifest
	tmp  string // the copy being edited
	orig []byte // the manifest as it was when the edit began
}

// editedMsg is the editor's end.
type editedMsg struct{ err error }

// errConflict is an edit that found the manifest changed since it began.
var errConflict = errors.New("the manifest changed while you edited it")

// startEdit opens the selected program's manifest in the editor.
func (m *Model) startEdit() tea.Cmd {
	r, ok := m.selectedProgram()
	if !ok {
		return nil
	}
	if r.p.path == "" {
		m.fail(r.p.name + ": no manifest to edit")
		return nil
	}
	data, err := manifest.ReadFile(r.p.path)
	if err != nil {
		m.fail(r.p.name + ": " + err.Error())
		return nil
	}
	f, err := os.CreateTemp("", "reconciled-"+r.p.name+"-*"+filepath.Ext(r.p.path))
	if err != nil {
		m.fail("edit: " + err.Error())
		return nil
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		m.fail("edit: " + err.Error())
		return nil
	}
	m.edit = &editing{name: r.p.name, path: r.p.path, tmp: f.Name(), orig: data}
	return m.runEditor()
}

// runEditor hands the terminal to the editor on the copy.
func (m *Model) runEditor() tea.Cmd {
	argv := strings.Fields(m.opt.Editor)
	if len(argv) == 0 {
		argv = []string{"vi"}
	}
	cmd := exec.Command(argv[0], append(argv[1:], m.edit.tmp)...)
	done := func(err error) tea.Msg { return editedMsg{err} }
	if m.term != nil {
		return tea.Exec(handOver{cmd: cmd, t: m.term}, done)
	}
	return tea.ExecProcess(cmd, done)
}

// edited validates the copy when the editor ends, and places it when valid.
func (m *Model) edited(msg editedMsg) tea.Cmd {
	e := m.edit
	if e == nil {
		return nil
	}
	if msg.err != nil {
		m.endEdit()
		m.fail("editor: " + msg.err.Error() + " (nothing was changed)")
		return nil
	}
	data, err := os.ReadFile(e.tmp)
	if err != nil {
		m.endEdit()
		m.fail("edit: " + err.Error())
		return nil
	}
	if bytes.Equal(data, e.orig) {
		m.endEdit()
		m.flash, m.flashBad = filepath.Base(e.path)+": no change", false
		return nil
	}
	if _, errs := spec.Parse(e.path, data); errs != nil {
		m.showEditErrors(errs.Error())
		return nil
	}
	res, err := place(m.src.manifests, e, data)
	switch {
	case errors.Is(err, errConflict):
		// Edit again on the user's copy, against the manifest as it is now.
		if now, rerr := manifest.ReadFile(e.path); rerr == nil {
			e.orig = now
		}
		m.showEditErrors(filepath.Base(e.path) + ": " + err.Error() + " (enter edits your copy again and saves over it; esc discards your copy)")
		return nil
	case err != nil:
		var inv *manifest.InvalidError
		if errors.As(err, &inv) {
			m.showEditErrors(inv.Errs.Error())
			return nil
		}
		m.endEdit()
		m.fail(e.name + ": " + err.Error() + " (nothing was changed)")
		return nil
	}
	m.endEdit()
	m.flash, m.flashBad = filepath.Base(e.path)+" saved: the daemon applies it", false
	if res.Changed {
		m.pending[e.name] = &progress{verb: "edit", target: change.Applied(res, m.now())}
		m.checkProgress()
	}
	return nil
}

// place writes data as the manifest of e, atomically, if the manifest is
// still what it was when the edit began (compare-and-swap under the edit
// lock); errConflict otherwise.
func place(d manifest.Dir, e *editing, data []byte) (manifest.Result, error) {
	res, err := d.Edit(e.name, func(cur []byte) ([]byte, error) {
		if !bytes.Equal(cur, e.orig) {
			return nil, errConflict
		}
		return data, nil
	})
	var inv *manifest.InvalidError
	if !errors.As(err, &inv) || inv.Path != e.path {
		return res, err
	}
	// The manifest is invalid now (the edit may be its fix): Edit refuses
	// to change it, Apply replaces it whole.
	cur, rerr := manifest.ReadFile(e.path)
	if rerr != nil {
		return res, rerr
	}
	if !bytes.Equal(cur, e.orig) {
		return res, errConflict
	}
	if os.Geteuid() == 0 {
		d = d.WithPolicy(manifest.Policy{}) // refuse what a root daemon would, as apply does
	}
	return d.Apply(e.name, data)
}

// showEditErrors shows why the copy was not placed.
func (m *Model) showEditErrors(text string) {
	lines := []paneLine{{text: "nothing was placed: " + m.edit.path + " is as it was", kind: lineNote}, {}}
	for _, l := range strings.Split(text, "\n") {
		lines = append(lines, paneLine{text: clean(l), kind: lineError})
	}
	lines = append(lines, paneLine{}, paneLine{text: "enter: edit again (your copy is kept)    esc: discard your copy", kind: lineNote})
	m.ov = &textPane{title: fmt.Sprintf("edit %s: not placed", filepath.Base(m.edit.path))}
	m.ov.set(lines)
	m.overlay = editErrOverlay
}

func (m *Model) editErrKey(s string) tea.Cmd {
	switch s {
	case "enter":
		m.overlay = noOverlay
		return m.runEditor()
	case "esc":
		m.overlay = noOverlay
		name := m.edit.name
		m.endEdit()
		m.flash, m.flashBad = name+": edit discarded, nothing was changed", false
	default:
		m.scrollKey(m.ov, s, m.overlayHeight())
	}
	return nil
}

// endEdit removes the copy.
func (m *Model) endEdit() {
	if m.edit != nil {
		os.Remove(m.edit.tmp)
		m.edit = nil
	}
}
