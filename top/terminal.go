package top

import (
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"golang.org/x/sys/unix"
)

// The view draws its own frames instead of Bubble Tea v1's renderer, which
// wakes at its frame rate (a ticker, at least once a second) to compare the
// newest frame with the last, changed or not: a view left open would never
// be idle. The program runs with tea.WithoutRenderer, which also leaves the
// terminal alone (no raw mode, no alternate screen, no size), so the
// terminal type below does that part too:
//
//   - enter: raw mode on the input (when it is a terminal), the alternate
//     screen, cursor hidden; leave undoes it, once, whatever ends the view
//     (q, ctx, a panic in the model or in a command: guard leaves before
//     the panic reaches Bubble Tea, which prints it on the normal screen).
//   - show takes each frame View draws; a frame equal to the last written
//     costs a string compare. A new one is written at once when the last
//     write is redrawInterval old, else when it is: at most ten writes a
//     second, and no timer at all while nothing changes. A write sends the
//     changed lines only, each positioned absolutely.
//   - the size comes from the output's TIOCGWINSZ at the start and on each
//     SIGWINCH (Run's goroutine); a new size repaints everything.
//   - the editor (E) gets the terminal through handOver: leave before it
//     runs, enter and repaint after; the size is read again when the
//     editor's end reaches the model (framed.Update).

// terminal owns the terminal while the view runs.
type terminal struct {
	out   io.Writer
	inFd  int // -1: the input is not a terminal (no raw mode)
	outFd int // -1: the output is not a terminal (no size)
	now   func() time.Time

	mu      sync.Mutex
	saved   *unix.Termios // the input's mode before raw mode
	active  bool          // raw mode and the alternate screen are on
	width   int
	frame   string    // the newest frame
	written string    // the frame on the terminal ("" after enter or a resize)
	shown   []string  // its lines
	clear   bool      // erase the screen before the next frame (a resize)
	wroteAt time.Time // when the last frame was written
	timer   *time.Timer
}

// termFd returns the descriptor of f when it is a terminal, else -1.
func termFd(f any) int {
	file, ok := f.(*os.File)
	if !ok {
		return -1
	}
	if _, err := unix.IoctlGetTermios(int(file.Fd()), unix.TCGETS); err != nil {
		return -1
	}
	return int(file.Fd())
}

func newTerminal(in io.Reader, out io.Writer) *terminal {
	return &terminal{out: out, inFd: termFd(in), outFd: termFd(out), width: 80, now: time.Now}
}

// size is the output terminal's size; ok false when it has none.
func (t *terminal) size() (w, h int, ok bool) {
	if t.outFd < 0 {
		return 0, 0, false
	}
	ws, err := unix.IoctlGetWinsize(t.outFd, unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 || ws.Row == 0 {
		return 0, 0, false
	}
	return int(ws.Col), int(ws.Row), true
}

// enter puts the input in raw mode and the output on the alternate
// screen, cleared, the cursor hidden.
func (t *terminal) enter() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.active {
		return nil
	}
	if t.inFd >= 0 {
		saved, err := unix.IoctlGetTermios(t.inFd, unix.TCGETS)
		if err != nil {
			return err
		}
		raw := *saved
		// cfmakeraw(3): bytes as typed, no echo, no signals from keys,
		// no output processing.
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if err := unix.IoctlSetTermios(t.inFd, unix.TCSETS, &raw); err != nil {
			return err
		}
		t.saved = saved
	}
	t.active = true
	t.written, t.shown, t.clear = "", nil, false
	_, _ = io.WriteString(t.out, ansi.SetAltScreenSaveCursorMode+ansi.EraseEntireScreen+ansi.CursorHomePosition+ansi.HideCursor)
	if t.frame != "" {
		t.draw() // back from the editor: the last frame at once
	}
	return nil
}

// leave shows the cursor, leaves the alternate screen and restores the
// input's mode. A frame not yet written is dropped.
func (t *terminal) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer != nil {
		t.timer.Stop()
		t.timer = nil
	}
	if !t.active {
		return
	}
	t.active = false
	_, _ = io.WriteString(t.out, ansi.ResetStyle+ansi.ShowCursor+ansi.ResetAltScreenSaveCursorMode)
	if t.saved != nil {
		_ = unix.IoctlSetTermios(t.inFd, unix.TCSETS, t.saved)
		t.saved = nil
	}
}

// guard, deferred, leaves the terminal on a panic and panics on with the
// same value, so that whoever recovers it prints on the normal screen.
func (t *terminal) guard() {
	if r := recover(); r != nil {
		t.leave()
		panic(r)
	}
}

// guardCmd is cmd run under guard, the commands of a batch too.
func (t *terminal) guardCmd(cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() tea.Msg {
		defer t.guard()
		msg := cmd()
		if b, ok := msg.(tea.BatchMsg); ok {
			for i := range b {
				b[i] = t.guardCmd(b[i])
			}
		}
		return msg
	}
}

// resized repaints the whole screen with the next frame, w wide.
func (t *terminal) resized(w int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.width = w
	t.written, t.shown, t.clear = "", nil, true
}

// show takes the newest frame: written now, or redrawInterval after the
// last write, or not at all when it is the one on the terminal.
func (t *terminal) show(frame string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.frame = frame
	if !t.active || t.timer != nil || frame == t.written {
		return
	}
	if wait := redrawInterval - t.now().Sub(t.wroteAt); wait > 0 {
		t.timer = time.AfterFunc(wait, t.flush)
		return
	}
	t.draw()
}

// flush writes the newest frame when its time has come.
func (t *terminal) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timer = nil
	if t.active && t.frame != t.written {
		t.draw()
	}
}

// draw writes the lines of t.frame that differ from those on the terminal.
func (t *terminal) draw() {
	lines := strings.Split(t.frame, "\n")
	var b strings.Builder
	if t.clear {
		b.WriteString(ansi.EraseEntireScreen)
		t.clear = false
	}
	for i, l := range lines {
		if i < len(t.shown) && t.shown[i] == l {
			continue
		}
		b.WriteString("\x1b[" + strconv.Itoa(i+1) + ";1H" + ansi.ResetStyle)
		b.WriteString(l)
		// Erase the rest of a shorter line; not after a full one, whose
		// cursor waits on its last cell (erasing would take that cell).
		if ansi.StringWidth(l) < t.width {
			b.WriteString(ansi.ResetStyle + ansi.EraseLineRight)
		}
	}
	if len(t.shown) > len(lines) {
		b.WriteString("\x1b[" + strconv.Itoa(len(lines)+1) + ";1H" + ansi.ResetStyle + ansi.EraseScreenBelow)
	}
	if b.Len() > 0 {
		_, _ = io.WriteString(t.out, b.String())
	}
	t.written, t.shown, t.wroteAt = t.frame, lines, t.now()
}

// handOver is a command that gets the terminal while it runs (the
// editor): the view leaves it before and takes it back after, repainted
// at the size it has then. It is a tea.ExecCommand.
type handOver struct {
	cmd *exec.Cmd
	t   *terminal
}

func (h handOver) SetStdin(r io.Reader) {
	if h.cmd.Stdin == nil {
		h.cmd.Stdin = r
	}
}

func (h handOver) SetStdout(w io.Writer) {
	if h.cmd.Stdout == nil {
		h.cmd.Stdout = w
	}
}

func (h handOver) SetStderr(w io.Writer) {
	if h.cmd.Stderr == nil {
		h.cmd.Stderr = w
	}
}

func (h handOver) Run() error {
	h.t.leave()
	err := h.cmd.Run()
	if eerr := h.t.enter(); err == nil {
		err = eerr
	}
	return err
}
