package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/spf13/cobra"
)

// exportBinary is the binary that does `reconciled export`. It is apart so
// that the daemon's binary carries none of the exporters' code (see
// cmd/reconciled-export).
const exportBinary = "reconciled-export"

// newExportCommand is `reconciled export`: it runs reconciled-export with
// the same arguments, its standard input, output and error the command's,
// and exits with its exit code. Its flags are reconciled-export's: they are
// not parsed here.
func newExportCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export kubernetes|nomad|systemd [NAME... | -l SELECTOR | --all]",
		Short: "Turn manifests into Kubernetes, Nomad or systemd configuration",
		Long: `Write the configuration of another engine for the programs named, selected by
labels or all of them: a Kubernetes Deployment, StatefulSet or Indexed Job, a
Nomad job, or systemd units. "reconciled export --help" lists the flags.

The command is the binary reconciled-export, installed beside reconciled
(go install github.com/reconciled/reconciled/cmd/...@latest installs both): it
is looked for in the directory of reconciled, then on PATH.`,
		Example: `  reconciled export kubernetes --all --image python:3.13-slim | kubectl apply -f -
  reconciled export systemd --all --check >/dev/null   # CI: fail on anything lost`,
		ValidArgs:          []string{"kubernetes", "nomad", "systemd"},
		DisableFlagParsing: true,
		GroupID:            "read",
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		path, err := findBinary(exportBinary)
		if err != nil {
			if slices.Contains(args, "--help") || slices.Contains(args, "-h") {
				return cmd.Help() // this one's, which says where the command is
			}
			return &exitError{Code: 1, Msg: "export: " + err.Error()}
		}
		return runCompanion(cmd, path, args)
	}
	return cmd
}

// runCompanion runs the binary at path with args and the command's standard
// streams, and returns its exit code as the command's (128+N when signal N
// ended it).
func runCompanion(cmd *cobra.Command, path string, args []string) error {
	c := exec.CommandContext(cmd.Context(), path, args...)
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitError{Code: 128 + int(ws.Signal())}
		}
		return &exitError{Code: ee.ExitCode()}
	default:
		return &exitError{Code: 1, Msg: "export: " + err.Error()}
	}
}

// findBinary finds the companion binary name: in the directory of this
// binary first (an installation keeps them together), then on PATH.
func findBinary(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		path := filepath.Join(filepath.Dir(self), name)
		if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return path, nil
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New(name + " is not installed beside reconciled or on PATH: go install github.com/reconciled/reconciled/cmd/" + name + "@latest")
		}
		return "", err
	}
	return path, nil
}
