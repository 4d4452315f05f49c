package top

import (
	"context"
	"errors"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
)

// maxFPS is the renderer's frame rate: the screen is redrawn at most ten
// times a second. (Bubble Tea v1's renderer wakes at this rate to compare
// frames; it writes to the terminal only when the view changed.)
const maxFPS = 10

// Run shows the live view on the terminal until the user quits (q,
// ctrl-c), ctx ends, or SIGINT or SIGTERM arrives; the terminal is
// restored in every case, a panic in the view included (Bubble Tea
// recovers it).
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

	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithFPS(maxFPS), tea.WithContext(ctx)}
	if o.In != nil {
		opts = append(opts, tea.WithInput(o.In))
	}
	if o.Out != nil {
		opts = append(opts, tea.WithOutput(o.Out))
	}
	_, err = tea.NewProgram(m, opts...).Run()
	if m.logs != nil {
		m.logs.close()
	}
	if errors.Is(err, tea.ErrInterrupted) || errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil
	}
	return err
}
