package main

// Shell completion: cobra's own `completion bash|zsh|fish|powershell`
// command, with program names (and NAME-i instance names where a verb takes
// them) completed from the directory.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// completePrograms completes program names: the manifests in --dir, and the
// programs that still have a status file (deleted, still stopping).
func completePrograms(g *globalOptions) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return filterNames(programNames(g), args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeInstances completes program names and NAME-i instance names.
func completeInstances(g *globalOptions) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names := programNames(g)
		sts, _ := status.ReadDir(g.statusDirOf())
		for _, st := range sts {
			for _, in := range st.Status.Instances {
				names = append(names, in.Name)
			}
		}
		return filterNames(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func programNames(g *globalOptions) []string {
	names, _ := allManifests(g)
	sts, _ := status.ReadDir(g.statusDirOf())
	for _, st := range sts {
		if spec.ValidName(st.Metadata.Name) {
			names = append(names, st.Metadata.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// filterNames keeps the names that start with prefix and are not already
// on the command line.
func filterNames(names, args []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) && !slices.Contains(args, n) {
			out = append(out, n)
		}
	}
	return out
}

// newCompletionCommand replaces cobra's default completion command (which
// binds its output when it is created) with one that writes to the
// command's own output, and says how to install the scripts.
func newCompletionCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script for bash, zsh, fish or powershell. Program names
(and NAME-i instance names for logs and signal) are completed from the directory
(--dir, or $RECONCILED_DIR) as you type.`,
		Example: `  source <(reconciled completion bash)                       # this shell
  reconciled completion bash > /etc/bash_completion.d/reconciled
  reconciled completion zsh > "${fpath[1]}/_reconciled"
  reconciled completion fish > ~/.config/fish/completions/reconciled.fish`,
		Args:      usageArgs(cobra.ExactArgs(1)),
		ValidArgs: []string{"bash", "zsh", "fish", "powershell"},
		RunE: func(cmd *cobra.Command, args []string) error {
			root, out := cmd.Root(), cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(out, true)
			case "zsh":
				return root.GenZshCompletion(out)
			case "fish":
				return root.GenFishCompletion(out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(out)
			}
			return &usageError{Err: fmt.Errorf("%q is not one of bash, zsh, fish, powershell", args[0])}
		},
	}
	return cmd
}

// addControlCommands adds the kubectl-style verbs, grouped in --help, and
// the completion command.
func addControlCommands(root *cobra.Command, g *globalOptions) {
	root.AddGroup(
		&cobra.Group{ID: "read", Title: "Reading:"},
		&cobra.Group{ID: "write", Title: "Writing manifests:"},
		&cobra.Group{ID: "change", Title: "Changing (edit the directory):"},
		&cobra.Group{ID: "daemon", Title: "The daemon:"},
	)
	group := func(id string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = id
			root.AddCommand(c)
		}
	}
	group("read", newDescribeCommand(g), newEventsCommand(g), newLogsCommand(g), newWaitCommand(g))
	group("read", newTopCommand(g))
	group("change", newStartStopCommand(g, "start", spec.DesiredRunning), newStartStopCommand(g, "stop", spec.DesiredStopped),
		newScaleCommand(g), newRestartCommand(g), newApplyCommand(g), newDeleteCommand(g), newSignalCommand(g))
	group("daemon", newReloadCommand(g), newShutdownCommand(g))
	for _, c := range root.Commands() {
		switch c.Name() {
		case "status":
			c.GroupID = "read"
			c.ValidArgsFunction = completePrograms(g)
		case "validate", "explain", "schema", "diff":
			c.GroupID = "write"
		case "run":
			c.GroupID = "daemon"
		}
	}
	root.AddCommand(newCompletionCommand())
}
