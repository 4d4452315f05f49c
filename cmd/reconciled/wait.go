package main

// Waiting: follow status files until the daemon has carried out a change.
// Used by --wait of every changing verb and by `reconciled wait`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// waitPoll is how often a waiter reads the status files. They are small and
// written at most every 100ms per program.
const waitPoll = 50 * time.Millisecond

// waitFor follows the status files of the targets until each is reached,
// printing a progress line whenever one changes. It fails (exit 1) at the
// timeout, or at the first FATAL instance or rejected manifest.
func waitFor(ctx context.Context, out, errOut io.Writer, g *globalOptions, targets []change.Target, timeout time.Duration) error {
	if len(targets) == 0 {
		return nil
	}
	dir := g.statusDirOf()
	if held, _ := reconciler.Held(filepath.Join(dir, reconciler.StateDirName)); !held {
		diag(errOut, "no daemon holds %s: waiting for one to start", g.dir)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	last := map[string]string{}
	pending := targets
	for {
		var still []change.Target
		for _, t := range pending {
			st, err := status.ReadFile(status.StatusPath(dir, t.Name))
			exists := !errors.Is(err, fs.ErrNotExist)
			if err != nil && exists {
				still = append(still, t) // unreadable for a moment: look again
				continue
			}
			done, progress, fail := t.Check(st, exists)
			if fail != nil {
				return &exitError{Code: 1, Msg: t.Label() + ": " + fail.Error()}
			}
			key := t.Label()
			if progress != last[key] {
				fmt.Fprintf(out, "%s: %s\n", key, progress)
				last[key] = progress
			}
			if !done {
				still = append(still, t)
			} else if t.Final != "" && t.Final != progress {
				fmt.Fprintf(out, "%s: %s\n", key, t.Final)
			}
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				var names []string
				for _, t := range pending {
					names = append(names, t.Label()+" ("+last[t.Label()]+")")
				}
				return &exitError{Code: 1, Msg: fmt.Sprintf("timed out after %v waiting for %s", timeout, strings.Join(names, ", "))}
			}
			return &exitError{Code: 1, Msg: "interrupted"}
		case <-tick.C:
		}
	}
}

func newWaitCommand(g *globalOptions) *cobra.Command {
	var forState string
	var timeout time.Duration
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "wait NAME... | -l SELECTOR | --all  --for ready|stopped|deleted",
		Short: "Block until programs are ready, stopped or deleted",
		Long: `Block until the status files show the state, for scripts. "ready" waits for the
manifest as it is now (its spec hash) to run everywhere with every replica ready;
"stopped" for no instance to have a process; "deleted" for the daemon to have
removed the program. Exits 0 when reached, 1 at the timeout or when an instance
is FATAL (with its message).`,
		Example: `  cp worker.yaml /etc/reconciled/ && reconciled wait worker --for ready
  reconciled wait web worker --for ready --timeout 5m
  rm /etc/reconciled/old.yaml && reconciled wait old --for deleted
  reconciled wait -l team=payments --for ready`,
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			var kind change.Kind
			switch forState {
			case "ready":
				kind = change.Ready
			case "stopped":
				kind = change.Stopped
			case "deleted":
				kind = change.Deleted
			default:
				return &usageError{Err: fmt.Errorf("--for: %q is not one of ready, stopped, deleted", forState)}
			}
			args, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			since := time.Now()
			var targets []change.Target
			for _, name := range args {
				t := change.Target{Name: name, Kind: kind, Replicas: -1, Since: since}
				if kind == change.Ready {
					// Wait for the manifest as it is now, when it is valid.
					if f, data, err := g.manifests().Read(name); err == nil {
						if p, errs := spec.Parse(f.Path, data); errs == nil {
							t.SetHash(f.Path, p)
							t.Replicas = p.Spec.Replicas
						}
					}
				}
				targets = append(targets, t)
			}
			return waitFor(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), g, targets, timeout)
		},
	}
	cmd.Flags().StringVar(&forState, "for", "ready", "the state to wait for: ready, stopped or deleted")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long (exit 1)")
	sel.addFlags(cmd)
	return cmd
}
