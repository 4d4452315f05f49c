package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/internal/cli"
)

// globalOptions are the flags every command shares.
type globalOptions struct {
	dir       string
	statusDir string
}

func newRootCommand() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "reconciled",
		Short: "A process supervisor driven by a directory of YAML manifests",
		Long: `reconciled keeps the processes described by the manifests in a directory
running: copy a manifest in to start a program, edit it to change it, delete it
to stop it. The daemon writes what it observes beside each manifest.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{Err: err} })
	root.AddCommand(newValidateCommand(), newRunCommand(g), newStatusCommand(g), newSchemaCommand(), newExplainCommand(), newDiffCommand(g))
	root.AddCommand(newExportCommand())
	root.AddCommand(newVersionCommand(), newManCommand())
	// --version prints what `reconciled version` does. Not through cobra's
	// Version and a version template: a template links text/template's
	// method calls, which keeps every exported method of every type in the
	// binary (7 MB more of it, all mapped by the daemon).
	var showVersion bool
	root.Flags().BoolVar(&showVersion, "version", false, "print the version, as `reconciled version` does")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if showVersion {
			_, err := fmt.Fprint(cmd.OutOrStdout(), readBuildInfo().String())
			return err
		}
		return cmd.Help()
	}
	addControlCommands(root, g)
	addDirFlags(root, g)
	return root
}

// readsDir reports whether the verb reads the directory; the others take
// files or nothing.
func readsDir(verb string) bool {
	switch verb {
	case "validate", "schema", "explain", "completion", "help":
		return false
	}
	return true
}

// addDirFlags gives --dir and --status-dir to every verb, listed in the
// --help of those that read the directory and hidden in the others', so
// that each verb's --help lists only the flags it uses while an alias such
// as "reconciled --dir D" works with every verb. They are the verb's own
// flags, not the root's, yet "reconciled --dir D status" works: cobra
// parses the flags before the verb with the verb's flag set.
func addDirFlags(root *cobra.Command, g *globalOptions) {
	dir := cli.Dir()
	for _, c := range root.Commands() {
		c.Flags().StringVar(&g.dir, "dir", dir, "directory of manifests (env RECONCILED_DIR)")
		c.Flags().StringVar(&g.statusDir, "status-dir", "", "directory of status and event files (default: --dir)")
		if !readsDir(c.Name()) {
			// MarkHidden fails only for a flag that does not exist.
			_ = c.Flags().MarkHidden("dir")
			_ = c.Flags().MarkHidden("status-dir")
		}
	}
}

// statusDirOf is where status and event files live.
func (g *globalOptions) statusDirOf() string {
	if g.statusDir != "" {
		return g.statusDir
	}
	return g.dir
}

// usageArgs wraps a cobra argument check so that its failure exits 2.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs { return cli.UsageArgs(check) }
