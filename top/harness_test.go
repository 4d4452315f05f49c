package top

// The model tests drive Update and View directly, with no terminal: a
// directory of manifests and hand-written status, event and log files, keys
// as tea.KeyMsg, and the commands that Update returns run at once (the
// tick is never armed for real: tests deliver tickMsg themselves).

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
	"github.com/reconciled/reconciled/usage"
)

// testNow is the clock of every model test.
var testNow = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// fixture is a directory and a model over it.
type fixture struct {
	t      testing.TB
	dir    string
	m      *Model
	quit   bool
	ticks  int           // ticks armed
	tickIn time.Duration // the delay of the last tick armed
}

// manifestText is a manifest with a comment, to check that edits keep it.
func manifestText(replicas int, extra ...string) string {
	s := "# kept comment\nspec:\n  command: [sleep, \"1000\"]\n  replicas: " + itoa(replicas) + "   # how many\n"
	for _, e := range extra {
		s += "  " + e + "\n"
	}
	return s
}

func newFixture(t testing.TB, manifests map[string]string, color bool) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir()}
	for name, text := range manifests {
		f.writeManifest(name, text)
	}
	return f.start(Options{Color: color})
}

// start makes the model over f.dir with o.
func (f *fixture) start(o Options) *fixture {
	o.Dir = f.dir
	o.Now = func() time.Time { return testNow }
	f.m = New(f.t.Context(), o)
	f.m.after = func(d time.Duration, _ func(time.Time) tea.Msg) tea.Cmd { f.ticks++; f.tickIn = d; return nil }
	f.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	return f
}

func (f *fixture) writeManifest(name, text string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name+".yaml"), []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) readManifest(name string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name+".yaml"))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// status writes a status file: ready of replicas instances ready, each
// RUNNING with a pid (1000+index) or, past ready, in state.
func (f *fixture) status(name string, replicas, ready int, state string, mutate ...func(*status.ProgramStatus)) {
	f.t.Helper()
	st := status.ProgramStatus{APIVersion: status.APIVersion, Kind: status.Kind, Metadata: status.Metadata{Name: name}}
	st.Status = status.Status{Desired: "running", Replicas: replicas, ReadyReplicas: ready, Phase: "Running", UpdatedAt: testNow}
	started := testNow.Add(-90 * time.Second)
	for i := range replicas {
		in := status.Instance{Name: name + "-" + itoa(i), Index: i, State: "RUNNING", Ready: true, Pid: 1000 + i, StartedAt: &started}
		if i >= ready {
			in.State, in.Ready, in.Pid, in.StartedAt = state, false, 0, nil
		}
		st.Status.Instances = append(st.Status.Instances, in)
	}
	for _, fn := range mutate {
		fn(&st)
	}
	if _, err := status.WriteFile(f.dir, st); err != nil {
		f.t.Fatal(err)
	}
}

// changed tells the model what the watcher would have.
func (f *fixture) changed(c changes) { f.send(changesMsg(c)) }

// send delivers msg and runs the commands that follow, as the program
// would.
func (f *fixture) send(msg tea.Msg) {
	f.t.Helper()
	_, cmd := f.m.Update(msg)
	f.run(cmd)
}

func (f *fixture) run(cmd tea.Cmd) {
	f.t.Helper()
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case nil:
	case tea.QuitMsg:
		f.quit = true
	case tea.BatchMsg:
		for _, c := range msg {
			f.run(c)
		}
	default:
		f.send(msg)
	}
}

// press sends keys: names of special keys ("enter", "esc", "up") or
// runes, one key per rune.
func (f *fixture) press(keys ...string) {
	f.t.Helper()
	special := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "esc": tea.KeyEsc, "up": tea.KeyUp, "down": tea.KeyDown,
		"tab": tea.KeyTab, "pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "home": tea.KeyHome,
		"end": tea.KeyEnd, "backspace": tea.KeyBackspace, "ctrl+c": tea.KeyCtrlC, "space": tea.KeySpace,
	}
	for _, k := range keys {
		if kt, ok := special[k]; ok {
			f.send(tea.KeyMsg{Type: kt})
			continue
		}
		for _, r := range k {
			f.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
	}
}

// screen is the view as plain text.
func (f *fixture) screen() string { return ansi.Strip(f.m.View()) }

// wantScreen fails unless the screen holds every one of want.
func (f *fixture) wantScreen(want ...string) {
	f.t.Helper()
	s := f.screen()
	for _, w := range want {
		if !strings.Contains(s, w) {
			f.t.Fatalf("screen lacks %q:\n%s", w, s)
		}
	}
}

func (f *fixture) noScreen(unwanted ...string) {
	f.t.Helper()
	s := f.screen()
	for _, w := range unwanted {
		if strings.Contains(s, w) {
			f.t.Fatalf("screen has %q:\n%s", w, s)
		}
	}
}

// line returns the screen line that holds s.
func (f *fixture) line(s string) string {
	f.t.Helper()
	for _, l := range strings.Split(f.screen(), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	f.t.Fatalf("no line holds %q:\n%s", s, f.screen())
	return ""
}

// hold takes the directory's lock as a daemon would, until the test ends.
func (f *fixture) hold() {
	f.t.Helper()
	stateDir := filepath.Join(f.dir, reconciler.StateDirName)
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		f.t.Fatal(err)
	}
	unlock, err := reconciler.Lock(stateDir)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(unlock)
}

// fakeUsage reports CPU seconds and memory per instance.
type fakeUsage map[string]usage.Sample

func (u fakeUsage) Read(program, instance string, pid int) (usage.Sample, error) {
	return u[instance], nil
}

// tea_window is a window of width w, 24 lines high.
func tea_window(w int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: 24} }
