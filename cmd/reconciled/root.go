package main

import (
	"os"

	"github.com/spf13/cobra"
)

// defaultDir is the directory of manifests when neither --dir nor
// RECONCILED_DIR says otherwise.
const defaultDir = "/etc/reconciled"

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
	dir := os.Getenv("RECONCILED_DIR")
	if dir == "" {
		dir = defaultDir
	}
	root.PersistentFlags().StringVar(&g.dir, "dir", dir, "directory of manifests (env RECONCILED_DIR)")
	root.PersistentFlags().StringVar(&g.statusDir, "status-dir", "", "directory of status and event files (default: --dir)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(newValidateCommand(), newRunCommand(g), newStatusCommand(g))
	root.AddCommand(newVersionCommand(), newManCommand())
	root.Version = readBuildInfo().version // --version
	root.SetVersionTemplate(readBuildInfo().String())
	addControlCommands(root, g)
	return root
}

// statusDirOf is where status and event files live.
func (g *globalOptions) statusDirOf() string {
	if g.statusDir != "" {
		return g.statusDir
	}
	return g.dir
}

// usageArgs wraps a cobra argument check so that its failure exits 2.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}
