package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

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
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ex *exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintln(os.Stderr, "reconciled: "+ex.msg)
		}
		return ex.code
	}
	fmt.Fprintln(os.Stderr, "reconciled: "+err.Error())
	// cobra reports an unknown command as a plain error.
	if isUsage(err) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}

// exitError carries an exit code out of a command; msg, when set, is printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// usageError marks a command-line mistake (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}
