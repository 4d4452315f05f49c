package top

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/reconciled/reconciled/internal/waitfor"
)

// syncBuffer is the terminal's output, read while a timer may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// take returns what was written since the last take.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// A frame is written once, only its changed lines, and a frame that comes
// sooner than redrawInterval after the last write is written when that
// interval is over; a frame equal to the one shown writes nothing.
func TestTerminalFrames(t *testing.T) {
	out := &syncBuffer{}
	term := newTerminal(strings.NewReader(""), out)
	clock := testNow
	var mu sync.Mutex
	term.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	if err := term.enter(); err != nil {
		t.Fatal(err)
	}
	if got := out.take(); !strings.Contains(got, ansi.SetAltScreenSaveCursorMode) || !strings.Contains(got, ansi.HideCursor) {
		t.Fatalf("enter wrote %q", got)
	}

	term.show("header\nrow one\nrow two")
	if got := out.take(); !strings.Contains(got, "header") || !strings.Contains(got, "row two") {
		t.Fatalf("first frame: %q", got)
	}
	term.show("header\nrow one\nrow two")
	if got := out.take(); got != "" {
		t.Fatalf("the same frame again wrote %q", got)
	}

	// Within the interval (the clock has not moved): written later, and
	// only the changed line, at its place.
	term.show("header\nrow ONE\nrow two")
	if got := out.take(); got != "" {
		t.Fatalf("a frame within the interval was written at once: %q", got)
	}
	var got string
	waitfor.Condition(t, 5*time.Second, func() bool { got += out.take(); return got != "" }, "the deferred frame")
	if !strings.Contains(got, "\x1b[2;1H") || !strings.Contains(got, "row ONE") || strings.Contains(got, "header") || strings.Contains(got, "row two") {
		t.Fatalf("deferred frame wrote %q, want line 2 only", got)
	}

	// After the interval: at once. A shorter frame erases what is below.
	mu.Lock()
	clock = clock.Add(time.Second)
	mu.Unlock()
	term.show("header")
	if got := out.take(); !strings.Contains(got, ansi.EraseScreenBelow) {
		t.Fatalf("a shorter frame: %q", got)
	}

	// A resize repaints every line.
	mu.Lock()
	clock = clock.Add(time.Second)
	mu.Unlock()
	term.resized(100)
	term.show("header")
	if got := out.take(); !strings.Contains(got, ansi.EraseEntireScreen) || !strings.Contains(got, "header") {
		t.Fatalf("after a resize: %q", got)
	}

	term.leave()
	if got := out.take(); !strings.Contains(got, ansi.ResetAltScreenSaveCursorMode) || !strings.Contains(got, ansi.ShowCursor) {
		t.Fatalf("leave wrote %q", got)
	}
	term.leave()
	term.show("after the end")
	if got := out.take(); got != "" {
		t.Fatalf("after leave: %q", got)
	}
}

// A panic in a command (or, the same way, in Update or View) leaves the terminal before it goes on, so that it
// is printed on the normal screen.
func TestTerminalGuard(t *testing.T) {
	out := &syncBuffer{}
	term := newTerminal(strings.NewReader(""), out)
	if err := term.enter(); err != nil {
		t.Fatal(err)
	}
	out.take()
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the model's panic", r)
			}
			if got := out.take(); !strings.Contains(got, ansi.ResetAltScreenSaveCursorMode) {
				t.Errorf("the terminal was not left before the panic went on: %q", got)
			}
		}()
		cmd := term.guardCmd(func() tea.Msg { panic("boom") })
		cmd()
	}()
}

// Run draws through the terminal and leaves it on q: the alternate screen
// entered, a frame, the alternate screen left.
func TestRunLeavesTerminal(t *testing.T) {
	dir := t.TempDir()
	in, keys := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(t.Context(), Options{Dir: dir, In: in, Out: out}) }()
	var screen string
	waitfor.Condition(t, 10*time.Second, func() bool {
		screen += out.take()
		return strings.Contains(screen, "no programs")
	}, "the first frame")
	if _, err := keys.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end on q")
	}
	screen += out.take()
	enter := strings.Index(screen, ansi.SetAltScreenSaveCursorMode)
	frame := strings.Index(screen, "no programs")
	leave := strings.LastIndex(screen, ansi.ResetAltScreenSaveCursorMode)
	if enter < 0 || frame < enter || leave < frame {
		t.Fatalf("enter %d, frame %d, leave %d in %q", enter, frame, leave, screen)
	}
}
