package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/reconciled/reconciled/top"
)

func newTopCommand(g *globalOptions) *cobra.Command {
	var selector string
	cmd := &cobra.Command{
		Use:   "top [-l SELECTOR]",
		Short: "A live terminal view: programs, instances, logs, events; keys that start, stop, restart, scale",
		Long: `Show every program and its instances as they change, as htop and k9s do: state,
ready, pid, uptime, restarts, CPU % and memory, with a pane that follows the
selected instance's output, the program's events or its describe. Keys act on
the selected row by editing its manifest exactly as the command line's verbs
do (s start/stop, r restart, +/- scale, d delete, E edit in $EDITOR); ? lists
every key, : finds an action by name.

The view reads the directory's files only (the status directory is watched
with inotify) and redraws when they change; it uses no CPU while nothing
changes, but for the uptime and CPU columns of rows on screen that have a
process (u hides the CPU and memory columns, and their reads). NO_COLOR or
TERM=dumb draw it without colour.`,
		Example: `  reconciled top
  reconciled top --dir /etc/reconciled -l team=payments`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var sel labels.Selector
			if selector != "" {
				s, err := labels.Parse(selector)
				if err != nil {
					return &usageError{Err: fmt.Errorf("-l: %w", err)}
				}
				sel = s
			}
			if !isTerminal(cmd.OutOrStdout()) {
				return &exitError{Code: 1, Msg: "top needs a terminal (use reconciled status --watch in a pipe)"}
			}
			if fi, err := os.Stat(g.dir); err != nil || !fi.IsDir() {
				return &exitError{Code: 1, Msg: "no directory " + g.dir}
			}
			editor := os.Getenv("VISUAL")
			if editor == "" {
				editor = os.Getenv("EDITOR")
			}
			// Signals are caught from here on, before the view takes the
			// terminal: a SIGTERM at any moment ends it through ctx, and
			// the terminal is restored.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
			defer stop()
			err := top.Run(ctx, top.Options{
				Dir:       g.dir,
				StatusDir: g.statusDirOf(),
				Selector:  sel,
				Describe: func(w io.Writer, name string) {
					if !describe(w, g, name, time.Now(), liveUsage(g.statusDirOf())) {
						fmt.Fprintf(w, "%s: no manifest and no status\n", name)
					}
				},
				Color:  top.ColorWanted(os.Getenv),
				Editor: editor,
			})
			return err
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "",
		"only the programs whose metadata.labels match this label selector (team=web,tier!=batch)")
	return cmd
}
