package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// DefaultDir is the directory of manifests when neither --dir nor
// RECONCILED_DIR says otherwise.
const DefaultDir = "/etc/reconciled"

// Dir is the directory of manifests by default: RECONCILED_DIR, else
// DefaultDir.
func Dir() string {
	if d := os.Getenv("RECONCILED_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// ExitError carries an exit code out of a command; Msg, when set, is
// printed.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// UsageError marks a command-line mistake (exit 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// IsUsage reports whether err is a command-line mistake.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}

// UsageArgs wraps a cobra argument check so that its failure exits 2.
func UsageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &UsageError{err}
		}
		return nil
	}
}

// Exit returns the exit code for a command's error and prints its message
// on stderr, prefixed "name: ": 0 and nothing for nil.
func Exit(err error, stderr io.Writer, name string) int {
	if err == nil {
		return 0
	}
	var ex *ExitError
	if errors.As(err, &ex) {
		if ex.Msg != "" {
			fmt.Fprintln(stderr, name+": "+ex.Msg)
		}
		return ex.Code
	}
	fmt.Fprintln(stderr, name+": "+err.Error())
	// cobra reports an unknown command as a plain error.
	if IsUsage(err) || strings.HasPrefix(err.Error(), "unknown command") {
		return 2
	}
	return 1
}
