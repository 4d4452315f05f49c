package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/status"
)

func newSignalCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signal NAME[-i]... SIGNAL",
		Short: "Send a signal to one instance or every instance of a program",
		Long: `Send SIGNAL to instance i of NAME (NAME-i), or to every instance (NAME), for
example HUP to make a server reopen its log files. The daemon sends it through
its own process handles (pidfds), never by a pid read from a file that may be
stale, and records a Signalled event. SIGNAL is a name with or without SIG
(HUP, SIGUSR1, term) or a number.

The command reaches the daemon through its control socket,
.reconciled/control.sock in the status directory (mode 0600: root or the
daemon's user). The socket takes signals only; desired state changes only
through the directory.`,
		Example: `  reconciled signal web HUP
  reconciled signal web-1 USR1
  reconciled signal web-0 worker-2 SIGTERM`,
		Args:              usageArgs(cobra.MinimumNArgs(2)),
		ValidArgsFunction: completeInstances(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			targets, sig := args[:len(args)-1], args[len(args)-1]
			num, err := reconciler.ParseSignal(sig)
			if err != nil {
				return &usageError{err}
			}
			sigName := strings.TrimPrefix(unix.SignalName(num), "SIG")
			if sigName == "" {
				sigName = strconv.Itoa(int(num))
			}
			stateDir := filepath.Join(g.statusDirOf(), reconciler.StateDirName)
			failed := false
			for _, arg := range targets {
				program, index := resolveInstance(g, arg)
				err := reconciler.SendSignal(cmd.Context(), stateDir, program, index, sig)
				if errors.Is(err, reconciler.ErrNoDaemon) {
					return &exitError{code: 1, msg: err.Error()}
				}
				if err != nil {
					failed = true
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", arg, err)
					continue
				}
				what := arg
				if index < 0 {
					what = "every instance of " + program
				}
				fmt.Fprintf(cmd.OutOrStdout(), "sent %s to %s\n", sigName, what)
			}
			if failed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	return cmd
}

// resolveInstance splits NAME-i into program and index, or returns arg and
// -1 when arg names a program (a program may itself be called "web-2":
// a manifest or status of that name wins).
func resolveInstance(g *globalOptions, arg string) (string, int) {
	if programExists(g, arg) {
		return arg, -1
	}
	i := strings.LastIndexByte(arg, '-')
	if i <= 0 {
		return arg, -1
	}
	n, err := strconv.Atoi(arg[i+1:])
	if err != nil || n < 0 || arg[i+1:] != strconv.Itoa(n) {
		return arg, -1
	}
	if !programExists(g, arg[:i]) {
		return arg, -1
	}
	return arg[:i], n
}

// programExists reports whether the directory has a manifest or the status
// directory a status file of name.
func programExists(g *globalOptions, name string) bool {
	if _, err := g.manifests().Resolve(name); err == nil || errors.Is(err, manifest.ErrSymlink) {
		return true
	}
	_, err := os.Stat(status.StatusPath(g.statusDirOf(), name))
	return err == nil
}
