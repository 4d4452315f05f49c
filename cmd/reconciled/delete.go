package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/manifest"
)

func newDeleteCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	var ignoreMissing bool
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "delete NAME... | -l SELECTOR | --all",
		Short: "Remove manifests: the daemon stops their instances",
		Long: `Remove NAME.yaml (or NAME.yml) from the directory. The daemon stops the program's
instances, removes its status file and writes a final Deleted event (the events
file stays). With --wait, follow until the daemon has removed the status file. A
manifest that is a symbolic link (a ConfigMap volume) is refused: change its
source.`,
		Example: `  reconciled delete old-worker
  reconciled delete web worker --wait
  reconciled delete -l env=staging`,
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			since := time.Now()
			var targets []change.Target
			failed := false
			for _, name := range args {
				err := change.Delete(g.manifests(), name)
				switch {
				case errors.Is(err, manifest.ErrNotFound) && ignoreMissing:
				case err != nil:
					failed = true
					diag(errOut, "%s: %v", name, err)
					continue
				default:
					fmt.Fprintln(out, name+" deleted")
				}
				targets = append(targets, change.Target{Name: name, Kind: change.Deleted, Since: since})
			}
			if failed {
				return &exitError{Code: 1}
			}
			if co.wait {
				return waitFor(cmd.Context(), out, errOut, g, targets, co.timeout)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&ignoreMissing, "ignore-not-found", false, "a missing manifest is not an error")
	sel.addFlags(cmd)
	co.addFlags(cmd)
	return cmd
}
