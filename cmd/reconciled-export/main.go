package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/internal/cli"
	"github.com/reconciled/reconciled/manifest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes `reconciled export args...` and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := newExportCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	return cli.Exit(cmd.Execute(), stderr, "reconciled export")
}

// dirFlags are the flags every verb of reconciled takes: --dir, and
// --status-dir (which export does not use: hidden, so that an alias such as
// "reconciled --dir D --status-dir S" works with it as with every verb).
type dirFlags struct {
	dir, statusDir string
}

func (d *dirFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&d.dir, "dir", cli.Dir(), "directory of manifests (env RECONCILED_DIR)")
	cmd.Flags().StringVar(&d.statusDir, "status-dir", "", "directory of status and event files")
	// MarkHidden fails only for a flag that does not exist.
	_ = cmd.Flags().MarkHidden("status-dir")
}

func (d *dirFlags) manifests() manifest.Dir { return manifest.NewDir(d.dir) }
