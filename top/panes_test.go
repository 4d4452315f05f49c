package top

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

// logFile is the path of an instance's auto log in the fixture.
func (f *fixture) logFile(instance, stream string) string {
	return filepath.Join(f.dir, reconciler.StateDirName, "logs", instance+"."+stream+".log")
}

func (f *fixture) appendLog(path, text string) {
	f.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(text); err != nil {
		f.t.Fatal(err)
	}
}

// l opens the logs of the selected instance: the tail of stdout and stderr,
// then what they write, by arrival; scrolling up stops following, G
// follows again; / searches, n and N move between matches; a rotated file
// is followed into its successor.
func TestLogsPane(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(2)}, false)
	f.status("web", 2, 2, "")
	var early strings.Builder
	for i := range 300 {
		fmt.Fprintf(&early, "early %d\n", i)
	}
	out, errf := f.logFile("web-1", "stdout"), f.logFile("web-1", "stderr")
	f.appendLog(out, early.String())
	f.appendLog(errf, "warning: \x1b[31mred\x1b[0m\n")
	f.changed(changes{all: true})

	f.press("enter", "j", "j", "l") // web-1
	f.wantScreen("logs web-1", "early 299", "E warning: red", "below: as it arrives")
	if strings.Contains(f.screen(), "early 99\n") || len(f.m.text.lines) != tailLines+2 {
		t.Errorf("not a tail of %d lines: %d lines", tailLines, len(f.m.text.lines))
	}

	f.appendLog(errf, "oops\n")
	f.appendLog(out, "fresh 1\npartial")
	f.changed(changes{logs: []string{errf, out}})
	s := f.screen()
	if i, j := strings.Index(s, "E oops"), strings.Index(s, "fresh 1"); i < 0 || j < i {
		t.Fatalf("new lines not in arrival order:\n%s", s)
	}
	f.noScreen("partial")

	// Scrolled up, new lines do not move the view.
	f.press("k", "k")
	f.wantScreen("scrolled")
	f.appendLog(out, " line\n")
	f.changed(changes{logs: []string{out}})
	f.noScreen("partial line")
	f.press("G")
	f.wantScreen("partial line")
	f.noScreen("scrolled")

	// Search, next, previous.
	f.press("/", "early 29", "enter")
	f.wantScreen("/early 29: 10/10") // 290-299: the tail began at 100
	f.press("N")
	f.wantScreen("/early 29: 9/10", "> early 298")
	f.press("n", "n")
	f.wantScreen("/early 29: 1/10", "> early 290")

	// Rotation: the file is renamed away and a new one begins.
	if err := os.Rename(out, out+".1"); err != nil {
		t.Fatal(err)
	}
	f.appendLog(out, "after rotation\n")
	f.changed(changes{logs: []string{out}})
	f.press("G")
	f.wantScreen("after rotation")

	// Another row: the pane follows the selection (tab: the table).
	f.press("tab", "k")
	f.wantScreen("logs web-0", "no output yet from web-0")
	f.press("tab", "esc")
	f.noScreen("logs web-0")
}

// A program whose output goes elsewhere says so.
func TestLogsPaneNoFile(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1, "stdout: inherit", "stderr: \"null\"")}, false)
	f.press("l")
	f.wantScreen("no stdout to follow (stdout: inherit)", "no stderr to follow (stderr: null)")
}

// e shows the program's events, newest last, and follows new ones.
func TestEventsPane(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	if err := status.AppendEvents(f.dir, "web", []status.Event{
		{Time: testNow, Type: status.EventNormal, Reason: "Started", Program: "web", Instance: "web-0", Message: "pid 1000"},
	}); err != nil {
		t.Fatal(err)
	}
	f.press("e")
	f.wantScreen("events web", "Started", "web-0", "pid 1000")
	if err := status.AppendEvents(f.dir, "web", []status.Event{
		{Time: testNow, Type: status.EventWarning, Reason: "BackOff", Program: "web", Instance: "web-0", Message: "exited 1"},
	}); err != nil {
		t.Fatal(err)
	}
	f.changed(changes{events: map[string]bool{"web": true}})
	f.wantScreen("E ", "BackOff")
	f.press("e")
	f.noScreen("events web")
}

// i shows what `reconciled describe` prints.
func TestDescribePane(t *testing.T) {
	f := &fixture{t: t, dir: t.TempDir()}
	f.writeManifest("web", manifestText(1))
	f.start(Options{Describe: func(w io.Writer, name string) { fmt.Fprintf(w, "Name:  %s\nPhase: Running\n", name) }})
	f.press("i")
	f.wantScreen("describe web", "Name:  web", "Phase: Running")
	f.press("/", "phase", "enter")
	f.wantScreen("/phase: 1/1")
	f.press("esc")
	f.noScreen("describe web")
}

// ? lists every key; esc closes it.
func TestHelp(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.press("?")
	f.send(tea_window(120))
	f.wantScreen("help")
	for _, c := range commands() {
		if len(f.m.ov.lines) > 0 && !strings.Contains(linesText(f.m.ov.lines), c.key+" ") {
			t.Errorf("help lacks %q", c.key)
		}
	}
	f.press("esc")
	f.noScreen("help (esc")
}

func linesText(ls []paneLine) string {
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.text + "\n")
	}
	return b.String()
}

// : lists every action; typing narrows, enter runs the chosen one.
func TestPalette(t *testing.T) {
	f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
	f.press(":")
	f.wantScreen("command palette", "scale up", "sort by name")
	f.press("scale", "space", "up")
	f.noScreen("sort by name")
	f.press("enter")
	if text := f.readManifest("web"); !strings.Contains(text, "replicas: 2") {
		t.Fatalf("palette scale up:\n%s", text)
	}
	f.press(":", "sort by", "down", "down", "down", "enter") // past "sort by the next key"
	if f.m.sortBy != sortCPU {
		t.Errorf("sort %s, want cpu", f.m.sortBy)
	}
	f.press(":", "esc")
	f.noScreen("command palette")
	// An action that types a line of its own: the filter.
	f.press(":", "filter", "enter", "w")
	f.wantScreen("filter: w")
}

// g shows each dependsOn edge, its condition, met or not.
func TestGraph(t *testing.T) {
	f := newFixture(t, map[string]string{
		"web":   manifestText(1, "dependsOn: [{program: db, condition: Ready}, {program: cache}, {program: gone}]"),
		"db":    manifestText(1),
		"cache": manifestText(1),
	}, false)
	f.status("db", 1, 1, "")
	f.status("cache", 1, 0, "STARTING")
	f.changed(changes{all: true})
	f.press("g")
	f.wantScreen("dependsOn graph", "web needs")
	for _, want := range [][]string{{"db", "Ready", "met", "1/1 ready"}, {"cache", "Started", "unmet", "0/1 started"}, {"gone", "unmet", "not found"}} {
		l := f.line("─ " + want[0])
		for _, w := range want[1:] {
			if !strings.Contains(l, w) {
				t.Errorf("edge %s: %q lacks %q", want[0], l, w)
			}
		}
	}
	// It follows the status.
	f.status("cache", 1, 1, "")
	f.changed(changes{statuses: map[string]bool{"cache": true}})
	if l := f.line("─ cache"); !strings.Contains(l, " met ") {
		t.Errorf("cache after it started: %q", l)
	}
	f.press("g")
	f.noScreen("dependsOn graph")
}

// q and ctrl-c quit.
func TestQuit(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		f := newFixture(t, map[string]string{"web": manifestText(1)}, false)
		f.press(k)
		if !f.quit {
			t.Errorf("%s did not quit", k)
		}
	}
}
