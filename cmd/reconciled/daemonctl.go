package main

// reload and shutdown: signals to the daemons themselves. A daemon is found
// through the directory, never by process name: .reconciled/daemons/PID
// names it, its lock proves it is alive and ours (/proc/locks must show that
// pid holding it), and the signal goes through a pidfd opened while the lock
// is still held, so a reused pid cannot be hit. A program's owner is the
// holder of .reconciled/locks/NAME.

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
)

func newReloadCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "reload [NAME...]",
		Short: "Make the daemon rescan the directory now (SIGHUP)",
		Long: `Send SIGHUP to the daemons of the directory: each rescans every manifest at once
rather than at its next resync. Useful after changes the watcher cannot see,
such as edits of files that a symlinked manifest points to. Several daemons may
share a directory (run --only/--exclude): without NAME every one of them gets it,
with NAME only the daemons that own those programs.`,
		Example: `  reconciled reload
  reconciled reload --dir /srv/reconciled
  reconciled reload web`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids, err := signalDaemons(g, args, syscall.SIGHUP)
			for _, pid := range pids {
				fmt.Fprintf(cmd.OutOrStdout(), "sent HUP to the daemon (pid %d): rescanning %s\n", pid, g.dir)
			}
			if isUsage(err) {
				return err
			}
			if err != nil {
				return &exitError{Code: 1, Msg: err.Error()}
			}
			return nil
		},
	}
}

func newShutdownCommand(g *globalOptions) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "shutdown [NAME...]",
		Short: "Stop the daemon and every instance (SIGTERM), and wait for it to exit",
		Long: `Send SIGTERM to the daemons of the directory: each stops every instance it runs
in parallel (each with its stopSignal and stopTimeout), writes the final statuses
and exits. Waits until they have exited, at most --timeout (exit 1 after that).
Several daemons may share a directory (run --only/--exclude): without NAME every
one of them is stopped, with NAME only the daemons that own those programs (and
with them every program they run). Under systemd use systemctl stop instead, or
the unit restarts it.`,
		Example: `  reconciled shutdown
  reconciled shutdown --timeout 5m
  reconciled shutdown web`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			pids, err := signalDaemons(g, args, syscall.SIGTERM)
			for _, pid := range pids {
				fmt.Fprintf(cmd.OutOrStdout(), "sent TERM to the daemon (pid %d): stopping every instance\n", pid)
			}
			if isUsage(err) {
				return err
			}
			if err != nil {
				return &exitError{Code: 1, Msg: err.Error()}
			}
			stateDir := filepath.Join(g.statusDirOf(), reconciler.StateDirName)
			deadline := time.NewTimer(timeout)
			defer deadline.Stop()
			tick := time.NewTicker(waitPoll)
			defer tick.Stop()
			for {
				left := stillRunning(stateDir, pids)
				if len(left) == 0 {
					if len(pids) == 1 {
						fmt.Fprintln(cmd.OutOrStdout(), "the daemon has exited")
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "the %d daemons have exited\n", len(pids))
					}
					return nil
				}
				select {
				case <-tick.C:
				case <-deadline.C:
					return &exitError{Code: 1, Msg: fmt.Sprintf("the daemon (pid %s) still holds %s after %v", joinPids(left), g.dir, timeout)}
				case <-cmd.Context().Done():
					return &exitError{Code: 1, Msg: "interrupted"}
				}
			}
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "give up waiting for the daemon to exit after this long (exit 1)")
	return cmd
}

// stillRunning returns those of pids that are still daemons of stateDir.
func stillRunning(stateDir string, pids []int) []int {
	live := reconciler.Daemons(stateDir)
	var left []int
	for _, pid := range pids {
		if slices.Contains(live, pid) {
			left = append(left, pid)
		}
	}
	return left
}

func joinPids(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// signalDaemons sends sig to the daemons of the directory that own the
// programs named (every daemon when none is), and returns the pids it
// signalled; the error says what could not be.
func signalDaemons(g *globalOptions, programs []string, sig syscall.Signal) ([]int, error) {
	for _, name := range programs {
		if !spec.ValidName(name) {
			return nil, &usageError{Err: fmt.Errorf("%q is not a program name", name)}
		}
	}
	stateDir := filepath.Join(g.statusDirOf(), reconciler.StateDirName)
	pids := reconciler.Daemons(stateDir)
	if len(pids) == 0 {
		return nil, fmt.Errorf("no daemon holds %s", g.dir)
	}
	if len(programs) > 0 {
		pids = nil
		for _, name := range programs {
			pid := reconciler.ProgramOwner(stateDir, name)
			if pid == 0 {
				return nil, fmt.Errorf("%s: no daemon of %s owns it", name, g.dir)
			}
			if !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	// One daemon that cannot be signalled does not keep the others from it.
	var done []int
	var errs []error
	for _, pid := range pids {
		if err := signalDaemon(stateDir, pid, sig); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, pid)
	}
	return done, errors.Join(errs...)
}

// signalDaemon sends sig to daemon pid of stateDir.
func signalDaemon(stateDir string, pid int, sig syscall.Signal) error {
	entry := reconciler.DaemonPath(stateDir, pid)
	if holders, err := reconciler.FlockHolders(entry); err == nil && !slices.Contains(holders, pid) {
		return fmt.Errorf("%s names pid %d, but that process does not hold it: not signalling", entry, pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("daemon pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	// The pidfd pins this process; make sure it is still the daemon.
	if holders, err := reconciler.FlockHolders(entry); err == nil && !slices.Contains(holders, pid) {
		return fmt.Errorf("the daemon pid %d of %s changed while signalling it: try again", pid, filepath.Dir(stateDir))
	}
	if !slices.Contains(reconciler.Daemons(stateDir), pid) {
		return fmt.Errorf("the daemon pid %d of %s exited while signalling it", pid, filepath.Dir(stateDir))
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal daemon pid %d: %w", pid, err)
	}
	return nil
}
