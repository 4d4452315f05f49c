package main

// restart: a rolling restart of programs (an annotation in the manifest),
// or the restart of one instance, NAME-i, through the daemon's control
// socket, as kubectl delete pod does.

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

func newRestartCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	sel := &programSelection{}
	var force bool
	cmd := &cobra.Command{
		Use:   "restart NAME... | NAME-i... [--force] | -l SELECTOR | --all",
		Short: "Rolling restart of programs, or restart one instance (NAME-i) now",
		Long: `For a program: set metadata.annotations["reconciled.dev/restartedAt"] to the
current time in its manifest (as kubectl rollout restart does). The annotation is
part of the spec hash, so the daemon replaces every instance per updateStrategy
(one at a time by default, waiting for each new one to be ready). It also clears
FATAL. With --wait, follow the status until every instance runs the new spec and
is ready.

For one instance, NAME-i: ask the daemon, through its control socket, to stop
that instance's process group (its stopSignal, then SIGKILL after stopTimeout;
--force: SIGKILL at once) and start it again, as kubectl delete pod does; the
manifest is not changed. An instance in BACKOFF, EXITED or FATAL starts at once.
With --wait, follow the status until the new process is ready.`,
		Example: `  reconciled restart web
  reconciled restart web --wait
  reconciled restart web-1
  reconciled restart web-1 --force
  reconciled restart -l team=payments
  reconciled restart --all`,
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completeInstances(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if force && sel.chosen() {
				return &usageError{Err: errors.New("--force restarts instances (NAME-i) only, not programs chosen by -l or --all")}
			}
			names, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			type inst struct {
				arg, program string
				index        int
			}
			var programs []string
			var instances []inst
			for _, name := range names {
				if !sel.chosen() {
					if program, index := resolveInstance(g, name); index >= 0 {
						instances = append(instances, inst{name, program, index})
						continue
					}
				}
				programs = append(programs, name)
			}
			if force && len(programs) > 0 {
				return &usageError{Err: fmt.Errorf("--force restarts instances (NAME-i) only: %s is a program, restarted by rolling", programs[0])}
			}
			now := time.Now()
			targets, failed := applyEdits(cmd, g, programs, func(name string) (manifest.Result, error) { return change.Restart(g.manifests(), name, now) },
				func(r manifest.Result) string { return r.Name + " restarting" })
			stateDir := filepath.Join(g.statusDirOf(), reconciler.StateDirName)
			for _, in := range instances {
				t := change.Target{Name: in.program, Kind: change.Restarted, Index: in.index, Since: time.Now()}
				if st, err := status.ReadFile(status.StatusPath(g.statusDirOf(), in.program)); err == nil {
					for _, i := range st.Status.Instances {
						if i.Index == in.index {
							t.Before = i.StartedAt
						}
					}
				}
				err := reconciler.RestartInstance(cmd.Context(), stateDir, in.program, in.index, force)
				if errors.Is(err, reconciler.ErrNoDaemon) {
					return &exitError{Code: 1, Msg: err.Error()}
				}
				if err != nil {
					failed = true
					diag(cmd.ErrOrStderr(), "%s: %v", in.arg, err)
					continue
				}
				how := ""
				if force {
					how = " (SIGKILL)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s restarting%s\n", in.arg, how)
				targets = append(targets, t)
			}
			return finishChanges(cmd, g, co, targets, failed)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "NAME-i only: stop the instance with SIGKILL instead of its stopSignal")
	sel.addFlags(cmd)
	co.addFlags(cmd)
	return cmd
}
