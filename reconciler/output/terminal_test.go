package output

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTerminalPrefixes(t *testing.T) {
	var out bytes.Buffer
	at := time.Date(2026, 11, 22, 10, 0, 1, 123e6, time.UTC)
	term := NewTerminal(&out, TerminalOptions{Timestamps: true, Now: func() time.Time { return at }})
	web := term.Writer("web", "web-0")
	worker := term.Writer("worker", "worker-10")
	web.Write([]byte("listening\n"))
	worker.Write([]byte("a\nb")) // a chunk without a final newline gets one
	want := "10:00:01.123 web-0     | listening\n" +
		"10:00:01.123 worker-10 | a\n" +
		"10:00:01.123 worker-10 | b\n"
	if got := out.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestTerminalColors(t *testing.T) {
	var out bytes.Buffer
	term := NewTerminal(&out, TerminalOptions{Color: true})
	term.Writer("web", "web-1").Write([]byte("hi\n"))
	c := ColorOf("web")
	if got, want := out.String(), "\x1b["+c+"mweb-1 |\x1b[0m hi\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Stable: the same program always gets the same colour, and the
	// palette spreads names.
	seen := map[string]bool{}
	for i := range 50 {
		name := fmt.Sprintf("prog%d", i)
		if ColorOf(name) != ColorOf(name) {
			t.Fatal("ColorOf is not stable")
		}
		seen[ColorOf(name)] = true
	}
	if len(seen) < 6 {
		t.Errorf("50 names got only %d colours", len(seen))
	}
}

// Batches of lines from many writers at once come out as whole lines.
func TestTerminalNoInterleaving(t *testing.T) {
	var out bytes.Buffer
	term := NewTerminal(&out, TerminalOptions{Color: true})
	const writers, batches, lines = 8, 50, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tw := term.Writer(fmt.Sprintf("p%d", w), fmt.Sprintf("p%d-0", w))
			for b := range batches {
				var chunk strings.Builder
				for l := range lines {
					fmt.Fprintf(&chunk, "writer %d batch %d line %d %s\n", w, b, l, strings.Repeat("=", l))
				}
				tw.Write([]byte(chunk.String()))
			}
		}()
	}
	wg.Wait()
	re := regexp.MustCompile(`^\x1b\[\d+mp(\d)-0 \|\x1b\[0m writer (\d) batch \d+ line (\d+) (=*)$`)
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*batches*lines {
		t.Fatalf("%d lines, want %d", len(got), writers*batches*lines)
	}
	for _, l := range got {
		m := re.FindStringSubmatch(l)
		if m == nil || m[1] != m[2] || fmt.Sprint(len(m[4])) != m[3] {
			t.Fatalf("mangled line %q", l)
		}
	}
}

func TestShouldColor(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "notty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ShouldColor(f, nil) {
		t.Error("a regular file is not a terminal")
	}
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer pty.Close()
	if !ShouldColor(pty, []string{"TERM=xterm", "NO_COLOR="}) {
		t.Error("a terminal with NO_COLOR empty gets no colour")
	}
	if ShouldColor(pty, []string{"NO_COLOR=1"}) {
		t.Error("NO_COLOR=1 is not honoured")
	}
}
