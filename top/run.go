package top

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"golang.org/x/sys/unix"
)

// Run shows the live view on the terminal until the user quits (q,
// ctrl-c) or ctx ends; the terminal is restored in every case, a panic in
// the view or in one of its commands included. Run catches no signal but
// SIGWINCH: the caller ends ctx on the signals it wants to end the view,
// having caught them before Run starts. The frames are drawn by the
// terminal type (terminal.go), not by Bubble Tea's renderer.
func Run(ctx context.Context, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	in, out := o.In, o.Out
	if out == nil {
		out = os.Stdout
	}
	if in == nil {
		in = os.Stdin
		if termFd(in) < 0 {
			// Keys come from the terminal even when standard input is
			// not one, as with Bubble Tea's default input.
			tty, err := os.Open("/dev/tty")
			if err != nil {
				return fmt.Errorf("open the terminal: %w", err)
			}
			defer tty.Close()
			in = tty
		}
	}

	m := New(ctx, o)
	w, err := newWatcher(m.opt.Dir, m.src.statusDir, m.src.stateDir)
	if err != nil {
		return err
	}
	m.watcher = w
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.run(ctx)
	}()
	defer m.endEdit()

	t := newTerminal(in, out)
	m.term = t
	if cols, rows, ok := t.size(); ok {
		m.w, m.h = cols, rows
		t.width = cols
	}
	if err := t.enter(); err != nil {
		return fmt.Errorf("set up the terminal: %w", err)
	}
	defer t.leave()

	// ctx ends the program through Quit, the way q does: Bubble Tea v1's
	// other way (WithContext) closes the terminal's reader without waiting
	// for the goroutine reading it (a data race the race detector reports).
	p := tea.NewProgram(framed{m: m, t: t}, tea.WithoutRenderer(), tea.WithoutSignalHandler(),
		tea.WithInput(in), tea.WithOutput(out))
	ran := make(chan struct{})
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	defer signal.Stop(winch)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				p.Quit()
				return
			case <-ran:
				return
			case <-winch:
				if cols, rows, ok := t.size(); ok {
					p.Send(tea.WindowSizeMsg{Width: cols, Height: rows})
				}
			}
		}
	}()
	_, err = p.Run()
	close(ran)
	if m.logs != nil {
		m.logs.close()
	}
	return err
}

// framed is the model as Bubble Tea runs it: Model's frames go to the
// terminal, and a panic in Update, View or a command leaves the terminal
// before it goes on.
type framed struct {
	m *Model
	t *terminal
}

func (f framed) Init() tea.Cmd {
	defer f.t.guard()
	return f.t.guardCmd(f.m.Init())
}

func (f framed) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	defer f.t.guard()
	if _, ok := msg.(editedMsg); ok {
		// Back from the editor: the terminal may have been resized
		// meanwhile, with the SIGWINCH gone to the editor.
		if cols, rows, ok := f.t.size(); ok {
			f.m.Update(tea.WindowSizeMsg{Width: cols, Height: rows})
			f.t.resized(cols)
		}
	}
	if ws, ok := msg.(tea.WindowSizeMsg); ok {
		f.t.resized(ws.Width)
	}
	_, cmd := f.m.Update(msg)
	return f, f.t.guardCmd(cmd)
}

// View hands the frame to the terminal; Bubble Tea, with no renderer,
// draws nothing itself.
func (f framed) View() string {
	defer f.t.guard()
	f.t.show(f.m.View())
	return ""
}
