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

// namesOrAll returns args, or every manifest's name with --all.
func namesOrAll(g *globalOptions, args []string, all bool) ([]string, error) {
	switch {
	case all && len(args) > 0:
		return nil, &usageError{errors.New("give program names or --all, not both")}
	case all:
		names, err := allManifests(g)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, &exitError{code: 1, msg: "no manifests in " + g.dir}
		}
		return names, nil
	case len(args) == 0:
		return nil, &usageError{errors.New("name at least one program, or use --all")}
	}
	return args, nil
}

// runEdits edits every name with f, reporting each outcome with report, then
// waits when asked. One failure does not stop the others; the exit code is 1
// if any failed.
func runEdits(cmd *cobra.Command, g *globalOptions, names []string, co *changeOptions,
	f func([]byte) ([]byte, error), report func(r manifest.Result) string) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	since := time.Now()
	var targets []waitTarget
	failed := false
	for _, name := range names {
		r, err := g.manifests().Edit(name, f)
		if err != nil {
			failed = true
			var inv *manifest.InvalidError
			if errors.As(err, &inv) {
				fmt.Fprintln(errOut, inv.Errs.Error()+"\n"+inv.Path+" is invalid: fix it first (nothing was changed)")
			} else {
				fmt.Fprintf(errOut, "%s: %v\n", name, err)
			}
			continue
		}
		fmt.Fprintln(out, report(r))
		targets = append(targets, appliedTarget(r.Name, r.Path, r.Program, since))
	}
	if failed {
		return &exitError{code: 1}
	}
	if co.wait {
		return waitFor(cmd.Context(), out, errOut, g, targets, co.timeout)
	}
	return nil
}

func newStartStopCommand(g *globalOptions, verb string, d spec.Desired) *cobra.Command {
	co := &changeOptions{}
	var all bool
	short := map[string]string{
		"start": "Set desired: running in manifests (start their instances)",
		"stop":  "Set desired: stopped in manifests (stop their instances)",
	}[verb]
	waitDesc := map[string]string{"start": "every instance is ready", "stop": "every instance has stopped"}[verb]
	cmd := &cobra.Command{
		Use:   verb + " NAME... | --all",
		Short: short,
		Long: fmt.Sprintf(`%s: set spec.desired to %s in each named manifest, changing only that
line of the file (comments and layout are kept). With --wait, follow the status
until %s.`, strings.ToUpper(verb[:1])+verb[1:], d, waitDesc),
		Example: fmt.Sprintf(`  reconciled %[1]s worker
  reconciled %[1]s web worker --wait --timeout 2m
  reconciled %[1]s --all`, verb),
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := namesOrAll(g, args, all)
			if err != nil {
				return err
			}
			past := map[string]string{"start": "started", "stop": "stopped"}[verb]
			return runEdits(cmd, g, names, co, func(b []byte) ([]byte, error) { return spec.SetDesired(b, d) },
				func(r manifest.Result) string {
					if !r.Changed {
						return fmt.Sprintf("%s unchanged (already desired: %s)", r.Name, d)
					}
					return r.Name + " " + past
				})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every manifest in the directory")
	co.addFlags(cmd)
	return cmd
}

func newScaleCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	cmd := &cobra.Command{
		Use:   "scale NAME... N",
		Short: "Set replicas: N in manifests",
		Long: `Set spec.replicas to N (0 to 10000) in each named manifest, changing only that
line of the file. Scaling never restarts running instances: scale-up starts the
missing indices, scale-down stops the highest first. With --wait, follow the
status until N instances are ready.`,
		Example: `  reconciled scale worker 3
  reconciled scale worker 5 --wait
  reconciled scale web api 0`,
		Args:              usageArgs(cobra.MinimumNArgs(2)),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, last := args[:len(args)-1], args[len(args)-1]
			n, err := strconv.Atoi(last)
			if err != nil || n < 0 || n > 10000 {
				return &usageError{fmt.Errorf("replicas: %q is not a number from 0 to 10000", last)}
			}
			return runEdits(cmd, g, names, co, func(b []byte) ([]byte, error) { return spec.SetReplicas(b, n) },
				func(r manifest.Result) string {
					if !r.Changed {
						return fmt.Sprintf("%s unchanged (already replicas: %d)", r.Name, n)
					}
					return fmt.Sprintf("%s scaled to %d", r.Name, n)
				})
		},
	}
	co.addFlags(cmd)
	return cmd
}

func newRestartCommand(g *globalOptions) *cobra.Command {
	co := &changeOptions{}
	var all bool
	cmd := &cobra.Command{
		Use:   "restart NAME... | --all",
		Short: "Rolling restart: set the reconciled.dev/restartedAt annotation to now",
		Long: `Set metadata.annotations["reconciled.dev/restartedAt"] to the current time in each
named manifest (as kubectl rollout restart does). The annotation is part of the
spec hash, so the daemon replaces every instance per updateStrategy (one at a
time by default, waiting for each new one to be ready). It also clears FATAL.
With --wait, follow the status until every instance runs the new spec and is
ready.`,
		Example: `  reconciled restart web
  reconciled restart web --wait
  reconciled restart --all`,
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := namesOrAll(g, args, all)
			if err != nil {
				return err
			}
			now := time.Now()
			return runEdits(cmd, g, names, co, func(b []byte) ([]byte, error) { return setRestartedAt(b, now) },
				func(r manifest.Result) string { return r.Name + " restarting" })
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every manifest in the directory")
	co.addFlags(cmd)
	return cmd
}

// setRestartedAt sets the annotation to now in RFC 3339; if it already
// holds that second, to now with nanoseconds, so that a second restart
// within the same second still changes the spec hash.
func setRestartedAt(b []byte, now time.Time) ([]byte, error) {
	out, err := spec.SetAnnotation(b, spec.RestartedAtAnnotation, now.UTC().Format(time.RFC3339))
	if err == nil && string(out) == string(b) {
		out, err = spec.SetAnnotation(b, spec.RestartedAtAnnotation, now.UTC().Format(time.RFC3339Nano))
	}
	return out, err
}
