package main

// reload and shutdown: signals to the daemon itself. The daemon is found
// through the directory, never by process name: .reconciled/pid names it,
// the lock proves it is alive and ours (/proc/locks must show that pid
// holding it), and the signal goes through a pidfd opened while the lock is
// still held, so a reused pid cannot be hit.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/reconciler"
)

func newReloadCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make the daemon rescan the directory now (SIGHUP)",
		Long: `Send SIGHUP to the daemon that holds the directory: it rescans every manifest at
once rather than at its next resync. Useful after changes the watcher cannot see,
such as edits of files that a symlinked manifest points to.`,
		Example: `  reconciled reload
  reconciled reload --dir /srv/reconciled`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			pid, err := signalDaemon(g, syscall.SIGHUP)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent HUP to the daemon (pid %d): rescanning %s\n", pid, g.dir)
			return nil
		},
	}
}

func newShutdownCommand(g *globalOptions) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "shutdown",
		Short: "Stop the daemon and every instance (SIGTERM), and wait for it to exit",
		Long: `Send SIGTERM to the daemon that holds the directory: it stops every instance in
parallel (each with its stopSignal and stopTimeout), writes the final statuses and
exits. Waits until the daemon has released the directory's lock, at most
--timeout (exit 1 after that). Under systemd use systemctl stop instead, or the
unit restarts it.`,
		Example: `  reconciled shutdown
  reconciled shutdown --timeout 5m`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			pid, err := signalDaemon(g, syscall.SIGTERM)
			if err != nil {
				return &exitError{code: 1, msg: err.Error()}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent TERM to the daemon (pid %d): stopping every instance\n", pid)
			stateDir := filepath.Join(g.statusDirOf(), reconciler.StateDirName)
			deadline := time.NewTimer(timeout)
			defer deadline.Stop()
			tick := time.NewTicker(waitPoll)
			defer tick.Stop()
			for {
				if held, _ := reconciler.Held(stateDir); !held {
					fmt.Fprintln(cmd.OutOrStdout(), "the daemon has exited")
					return nil
				}
				select {
				case <-tick.C:
				case <-deadline.C:
					return &exitError{code: 1, msg: fmt.Sprintf("the daemon (pid %d) still holds %s after %v", pid, g.dir, timeout)}
				case <-cmd.Context().Done():
					return &exitError{code: 1, msg: "interrupted"}
				}
			}
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "give up waiting for the daemon to exit after this long (exit 1)")
	return cmd
}

// signalDaemon sends sig to the daemon holding the directory and returns
// its pid.
func signalDaemon(g *globalOptions, sig syscall.Signal) (int, error) {
	stateDir := filepath.Join(g.statusDirOf(), reconciler.StateDirName)
	held, pid := reconciler.Held(stateDir)
	if !held {
		return 0, fmt.Errorf("no daemon holds %s", g.dir)
	}
	if pid <= 0 {
		return 0, fmt.Errorf("a daemon holds %s but %s is missing or unreadable", g.dir, filepath.Join(stateDir, "pid"))
	}
	if holders, err := lockHolders(filepath.Join(stateDir, "lock")); err == nil && len(holders) > 0 && !holders[pid] {
		return 0, fmt.Errorf("%s says pid %d, but another process holds the lock: not signalling", filepath.Join(stateDir, "pid"), pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return 0, fmt.Errorf("daemon pid %d: %w", pid, err)
	}
	defer unix.Close(fd)
	// The pidfd pins this process; make sure it is still the holder.
	if held, now := reconciler.Held(stateDir); !held || now != pid {
		return 0, fmt.Errorf("the daemon of %s changed while signalling it: try again", g.dir)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return 0, fmt.Errorf("signal daemon pid %d: %w", pid, err)
	}
	return pid, nil
}

// lockHolders returns the pids that /proc/locks shows holding an exclusive
// flock on path.
func lockHolders(path string) (map[int]bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, err
	}
	id := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	holders := map[int]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 25378 fe:00:9994417 0 EOF"
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" || fields[5] != id {
			continue
		}
		if pid, err := strconv.Atoi(fields[4]); err == nil {
			holders[pid] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(holders) == 0 {
		return nil, errors.New("no holder in /proc/locks")
	}
	return holders, nil
}
