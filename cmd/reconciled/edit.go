package main

// The changing verbs that edit one field of a manifest in place: start,
// stop, scale and restart. Each one edits through the manifest store
// (manifest.Dir.Edit: under the directory's edit lock, refusing a manifest
// that is invalid now, compare-and-swap on what it read) with spec's
// in-place editor, which keeps comments and layout.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/change"
	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
)

// changeOptions are the flags every changing verb shares.
type changeOptions struct {
	wait    bool
	timeout time.Duration
}

func (c *changeOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&c.wait, "wait", false, "follow the status until the daemon has carried out the change")
	cmd.Flags().DurationVar(&c.timeout, "timeout", 60*time.Second, "with --wait: give up after this long (exit 1)")
}

// manifests returns the store of the manifests in --dir.
func (g *globalOptions) manifests() manifest.Dir { return manifest.NewDir(g.dir) }

// allManifests returns the program names of the manifests in dir, sorted.
func allManifests(g *globalOptions) ([]string, error) {
	l, err := g.manifests().List()
	if err != nil {
		return nil, err
	}
	return l.Names(), nil
}

// runEdits edits every name with edit (applyEdits), then waits when asked.
func runEdits(cmd *cobra.Command, g *globalOptions, names []string, co *changeOptions,
	edit func(name string) (manifest.Result, error), report func(r manifest.Result) string) error {
	targets, failed := applyEdits(cmd, g, names, edit, report)
	return finishChanges(cmd, g, co, targets, failed)
}

// applyEdits edits every name with edit (package change), reporting each outcome with report,
// and returns what --wait would wait for. One failure does not stop the
// others; failed says whether any failed.
func applyEdits(cmd *cobra.Command, g *globalOptions, names []string,
	edit func(name string) (manifest.Result, error), report func(r manifest.Result) string) (targets []change.Target, failed bool) {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	since := time.Now()
	for _, name := range names {
		r, err := edit(name)
		if err != nil {
			failed = true
			var inv *manifest.InvalidError
			if errors.As(err, &inv) {
				fmt.Fprintln(errOut, inv.Errs.Error())
				diag(errOut, "%s is invalid: fix it first (nothing was changed)", inv.Path)
			} else {
				diag(errOut, "%s: %v", name, err)
			}
			continue
		}
		fmt.Fprintln(out, report(r))
		targets = append(targets, change.Applied(r, since))
	}
	return targets, failed
}

// finishChanges ends a changing verb: exit 1 if a change failed, else wait
// for the targets when --wait was given.
func finishChanges(cmd *cobra.Command, g *globalOptions, co *changeOptions, targets []change.Target, failed bool) error {
	if failed {
		return &exitError{Code: 1}
	}
	if co.wait {
		return waitFor(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), g, targets, co.timeout)
	}
	return nil
}

func newStartStopCommand(g *globalOptions, verb string, d spec.Desired) *cobra.Command {
	co := &changeOptions{}
	sel := &programSelection{}
	short := map[string]string{
		"start": "Set desired: running in manifests (start their instances)",
		"stop":  "Set desired: stopped in manifests (stop their instances)",
	}[verb]
	waitDesc := map[string]string{"start": "every instance is ready", "stop": "every instance has stopped"}[verb]
	past := map[string]string{"start": "started", "stop": "stopped"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " NAME... | -l SELECTOR | --all",
		Short: short,
		Long: fmt.Sprintf(`%s: set spec.desired to %s in each named manifest, changing only that
line of the file (comments and layout are kept). With --wait, follow the status
until %s, and end with "NAME: %s".

A program's instances are not %s one by one: how many run is spec.replicas
(reconciled scale); one instance is restarted with reconciled restart NAME-i.`,
			strings.ToUpper(verb[:1])+verb[1:], d, waitDesc, past, past),
		Example: fmt.Sprintf(`  reconciled %[1]s worker
  reconciled %[1]s web worker --wait --timeout 2m
  reconciled %[1]s -l team=payments
  reconciled %[1]s --all`, verb),
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			if err := refuseInstances(g, past, names); err != nil {
				return err
			}
			targets, failed := applyEdits(cmd, g, names, func(name string) (manifest.Result, error) { return change.SetDesired(g.manifests(), name, d) },
				func(r manifest.Result) string {
					if !r.Changed {
						return fmt.Sprintf("%s unchanged (already desired: %s)", r.Name, d)
					}
					return r.Name + " " + past
				})
			for i := range targets {
				targets[i].Final = past // supervisorctl's "NAME: started"
			}
			return finishChanges(cmd, g, co, targets, failed)
		},
	}
	sel.addFlags(cmd)
	co.addFlags(cmd)
	return cmd
}

// refuseInstances fails (exit 2) when a name is an instance, NAME-i, and
// not a program: start and stop act on programs; instances come and go
// with spec.replicas. past is the verb's past tense.
func refuseInstances(g *globalOptions, past string, names []string) error {
	for _, name := range names {
		if program, index := resolveInstance(g, name); index >= 0 {
			return &usageError{Err: fmt.Errorf("%s is an instance of %s: instances are not %s one by one; "+
				"how many run is spec.replicas (reconciled scale %s N), and reconciled restart %s restarts this one",
				name, program, past, program, name)}
		}
	}
	return nil
}

func newScaleCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "scale NAME... N | -l SELECTOR N | --all N",
		Short: "Set replicas: N in manifests",
		Long: `Set spec.replicas to N (0 to 10000) in each named manifest, changing only that
line of the file. Scaling never restarts running instances: scale-up starts the
missing indices, scale-down stops the highest first. With --wait, follow the
status until N instances are ready.`,
		Example: `  reconciled scale worker 3
  reconciled scale worker 5 --wait
  reconciled scale web api 0
  reconciled scale -l tier=batch 0`,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, last := args[:len(args)-1], args[len(args)-1]
			n, err := strconv.Atoi(last)
			if err != nil || n < 0 || n > 10000 {
				return &usageError{Err: fmt.Errorf("replicas: %q is not a number from 0 to 10000", last)}
			}
			if names, err = sel.resolve(g, names, false); err != nil {
				return err
			}
			return runEdits(cmd, g, names, co, func(name string) (manifest.Result, error) { return change.Scale(g.manifests(), name, n) },
				func(r manifest.Result) string {
					if !r.Changed {
						return fmt.Sprintf("%s unchanged (already replicas: %d)", r.Name, n)
					}
					return fmt.Sprintf("%s scaled to %d", r.Name, n)
				})
		},
	}
	sel.addFlags(cmd)
	co.addFlags(cmd)
	return cmd
}
