package main

import (
	"os"

	"github.com/reconciled/reconciled/internal/cli"
	"github.com/reconciled/reconciled/proc"
)

func main() {
	// A child started with a umask or nice value runs through this binary
	// first; MaybeRunShim execs the real program and never returns then.
	proc.MaybeRunShim()
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit code: 0 ok, 1 failure
// or timeout, 2 usage.
func run(args []string) int {
	root := newRootCommand()
	root.SetArgs(args)
	return cli.Exit(root.Execute(), os.Stderr, "reconciled")
}

// The command line's errors (internal/cli), under the names the commands
// use.
type (
	exitError  = cli.ExitError
	usageError = cli.UsageError
)

func isUsage(err error) bool { return cli.IsUsage(err) }
