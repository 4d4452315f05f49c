package top

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/reconciled/reconciled/status"
)

// The table lists programs by name with phase, ready/desired, restarts and
// message; enter expands a program into its instances; the header says no
// daemon holds the directory.
func TestTableProgramsAndInstances(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(2), "db": manifestText(1), "jobs": manifestText(1)}, false)
	f.status("web", 2, 1, "BACKOFF", func(st *status.ProgramStatus) {
		st.Status.Phase = "Degraded"
		st.Status.Instances[1].Restarts = 3
		st.Status.Instances[1].Message = "back-off 2s restarting"
	})
	f.status("db", 1, 1, "")
	f.status("jobs", 1, 0, "FATAL", func(st *status.ProgramStatus) { st.Status.Phase = "Failed" })
	f.changed(changes{all: true})

	f.wantScreen("no daemon holds this directory", "3 programs, 2/4 ready")
	s := f.screen()
	if !(strings.Index(s, "db") < strings.Index(s, "jobs") && strings.Index(s, "jobs") < strings.Index(s, "web ")) {
		t.Errorf("not sorted by name:\n%s", s)
	}
	if l := f.line("web "); !strings.Contains(l, "DEGRADED") || !strings.Contains(l, "1/2") || !strings.Contains(l, " 3 ") {
		t.Errorf("web row: %q", l)
	}
	f.noScreen("web-0")

	f.press("end", "enter") // web is last
	f.wantScreen("web-0", "web-1", "BACKOFF", "back-off 2s")
	if l := f.line("web-0"); !strings.Contains(l, "RUNNING") || !strings.Contains(l, "1000") || !strings.Contains(l, "yes") {
		t.Errorf("web-0 row: %q", l)
	}
	f.press("enter")
	f.noScreen("web-0")
}

// Without colour the selected row is marked ">" and no escape sequence is
// written; with colour it is in reverse video and states are coloured.
func TestTableColours(t *testing.T) {
	for _, color := range []bool{false, true} {
		f := newFixture(t, map[string]string{"a": manifestText(1), "b": manifestText(1)}, color)
		f.status("a", 1, 1, "")
		f.status("b", 1, 0, "FATAL", func(st *status.ProgramStatus) { st.Status.Phase = "Failed" })
		f.changed(changes{all: true})
		f.press("enter")
		raw := f.m.View()
		if !color {
			if strings.Contains(raw, "\x1b") {
				t.Errorf("plain view has escape sequences:\n%q", raw)
			}
			if l := f.line("RUNNING     1/1"); !strings.HasPrefix(l, "> a ") {
				t.Errorf("selected row without >: %q", l)
			}
			continue
		}
		if !strings.Contains(raw, sgrReverse) || !strings.Contains(raw, sgrRed+"FAILED") || !strings.Contains(raw, sgrGreen+"RUNNING") {
			t.Errorf("colour view lacks reverse video, red or green:\n%q", raw)
		}
		if strings.Contains(f.screen(), "> a") {
			t.Errorf("colour view marks the row with >")
		}
	}
}

func TestColorWanted(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{"TERM": "xterm-256color"}, true},
		{map[string]string{"TERM": "xterm", "NO_COLOR": "1"}, false},
		{map[string]string{"TERM": "dumb"}, false},
		{map[string]string{}, false},
	} {
		if got := ColorWanted(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.env, got, tt.want)
		}
	}
}

// j/k, the arrows, home, end and the page keys move the selection.
func TestTableMove(t *testing.T) {
	ms := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		ms[n] = manifestText(1)
	}
	f := newFixture(t, ms, false)
	sel := func() string { r, _ := f.m.selected(); return r.p.name }
	for _, step := range []struct{ key, want string }{
		{"j", "b"}, {"down", "c"}, {"k", "b"}, {"up", "a"}, {"up", "a"}, {"end", "d"}, {"home", "a"}, {"pgdown", "d"}, {"pgup", "a"},
	} {
		f.press(step.key)
		if got := sel(); got != step.want {
			t.Fatalf("after %s: %s selected, want %s", step.key, got, step.want)
		}
	}
	// The selection stays on its program when the table changes.
	f.press("j", "j") // c
	f.writeManifest("aa", manifestText(1))
	f.changed(changes{manifests: true})
	if got := sel(); got != "c" {
		t.Errorf("after a new program: %s selected, want c", got)
	}
}

// o sorts by name, restarts, CPU, memory, in turn.
func TestTableSort(t *testing.T) {
	f := newFixture(t, map[string]string{"a": manifestText(1), "b": manifestText(1), "c": manifestText(1)}, false)
	f.hold()
	f.m.newReader = func() usageReader {
		return fakeUsage{"a-0": {CPUSeconds: 1, MemoryBytes: 300 << 20}, "b-0": {CPUSeconds: 5, MemoryBytes: 100 << 20}, "c-0": {CPUSeconds: 2, MemoryBytes: 200 << 20}}
	}
	for name, restarts := range map[string]int{"a": 1, "b": 0, "c": 7} {
		f.status(name, 1, 1, "", func(st *status.ProgramStatus) { st.Status.Instances[0].Restarts = restarts })
	}
	f.changed(changes{all: true})
	order := func() string {
		var names []string
		for _, r := range f.m.rows {
			names = append(names, r.p.name)
		}
		return strings.Join(names, "")
	}
	for _, want := range []string{"cab", "abc", "acb"} { // restarts, cpu (first sample: none), memory
		f.press("o")
		if want == "abc" { // CPU needs two samples: give the second
			f.m.now = func() time.Time { return testNow.Add(time.Second) }
			f.m.newReader = func() usageReader {
				return fakeUsage{"a-0": {CPUSeconds: 1.1, MemoryBytes: 300 << 20}, "b-0": {CPUSeconds: 5.9, MemoryBytes: 100 << 20}, "c-0": {CPUSeconds: 2.5, MemoryBytes: 200 << 20}}
			}
			f.send(tickMsg{gen: f.m.tickGen})
			want = "bca"
		}
		if got := order(); got != want {
			t.Fatalf("sort %s: %s, want %s", f.m.sortBy, got, want)
		}
	}
	f.wantScreen("sort:memory")
	f.press("o")
	if got := order(); got != "abc" {
		t.Errorf("sort name: %s", got)
	}
}

// / filters by name as it is typed; enter keeps the filter, esc clears it.
func TestTableFilter(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1), "worker": manifestText(1), "db": manifestText(1)}, false)
	f.press("/", "w")
	f.wantScreen("filter: w", "web", "worker")
	f.noScreen("db")
	f.press("o", "r")
	f.noScreen("web ")
	f.press("enter")
	f.wantScreen("/wor", "worker")
	f.press("esc")
	f.wantScreen("db", "web", "worker")
	f.press("/", "x", "y", "z", "enter")
	f.wantScreen("no programs match the filter /xyz")
	f.press("/", "esc")
	f.wantScreen("db")
	// Keys read at once come as one message: "/" still starts the filter.
	f.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/wor")})
	f.press("enter")
	f.wantScreen("/wor", "worker")
	f.noScreen("db ")
}

// -l keeps the programs whose labels match.
func TestTableSelector(t *testing.T) {
	labelled := func(l string) string { return "metadata:\n  labels: {" + l + "}\n" + manifestText(1) }
	f := &fixture{t: t, dir: t.TempDir()}
	f.writeManifest("pay", labelled("team: payments"))
	f.writeManifest("search", labelled("team: search"))
	f.writeManifest("broken", "metadata:\n  labels: {team: payments}\nspec:\n  command: x\n  replicas: many\n")
	sel, err := labels.Parse("team=payments")
	if err != nil {
		t.Fatal(err)
	}
	f.start(Options{Selector: sel})
	f.send(tea.WindowSizeMsg{Width: 160, Height: 24})
	f.wantScreen("pay", "broken", "invalid manifest", "-l team=payments")
	f.noScreen("search")
}

// 80x24: every line fits, and there are 24 of them, whatever is open.
func TestView80x24(t *testing.T) {
	ms := map[string]string{}
	for i := range 30 {
		ms["program-with-a-long-name-"+itoa(i)] = manifestText(3)
	}
	f := newFixture(t, ms, true)
	for i := range 30 {
		f.status("program-with-a-long-name-"+itoa(i), 3, 2, "BACKOFF", func(st *status.ProgramStatus) {
			st.Status.Instances[2].Message = strings.Repeat("a very long message ", 10)
		})
	}
	f.changed(changes{all: true})
	check := func(what string) {
		t.Helper()
		lines := strings.Split(f.m.View(), "\n")
		if len(lines) != 24 {
			t.Errorf("%s: %d lines", what, len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > 80 {
				t.Errorf("%s: line %d is %d wide: %q", what, i, w, l)
			}
		}
	}
	check("table")
	f.press("enter", "l")
	check("logs")
	f.press("esc", "?")
	check("help")
	f.press("esc", ":")
	check("palette")
	f.press("esc", "g")
	check("graph")
	f.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	if n := len(strings.Split(f.m.View(), "\n")); n != 40 {
		t.Errorf("after a resize: %d lines", n)
	}
}
