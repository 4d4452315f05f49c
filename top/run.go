package top

import (
	"context"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
)

// maxFPS is the renderer's frame rate: the screen is redrawn at most ten
// times a second. (Bubble Tea v1's renderer wakes at this rate to compare
// frames; it writes to the terminal only when the view changed.)
const maxFPS = 10

// Run shows the live view on the terminal until the user quits (q,
// ctrl-c) or ctx ends; the terminal is restored in every case, a panic in
// the view included (Bubble Tea recovers it). Run catches no signal: the
// caller ends ctx on the signals it wants to end the view, having caught
// them before Run starts (Bubble Tea's own handler is installed only once
// the program runs, a little after the first frame may be drawn).
func Run(ctx context.Context, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

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

	// ctx ends the program through Quit, the way q does: Bubble Tea v1's
	// other way (WithContext) closes the terminal's reader without waiting
	// for the goroutine reading it (a data race the race detector reports).
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithFPS(maxFPS), tea.WithoutSignalHandler()}
	if o.In != nil {
		opts = append(opts, tea.WithInput(o.In))
	}
	if o.Out != nil {
		opts = append(opts, tea.WithOutput(o.Out))
	}
	p := tea.NewProgram(m, opts...)
	ran := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			p.Quit()
		case <-ran:
		}
	}()
	_, err = p.Run()
	close(ran)
	if m.logs != nil {
		m.logs.close()
	}
	return err
}
