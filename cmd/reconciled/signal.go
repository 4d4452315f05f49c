package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

func newSignalCommand(g *globalOptions) *cobra.Command {
	sel := &programSelection{}
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "signal NAME[-i]... SIGNAL | -l SELECTOR SIGNAL | --all SIGNAL",
		Short: "Send a signal to one instance or every instance of a program",
		Long: `Send SIGNAL to instance i of NAME (NAME-i), or to every instance (NAME), for
example HUP to make a server reopen its log files. The daemon sends it through
its own process handles (pidfds), never by a pid read from a file that may be
stale, and records a Signalled event. SIGNAL is a name with or without SIG
(HUP, SIGUSR1, term) or a number.

When the manifest wants the program running and its instances are on their way
to RUNNING (STOPPED, STARTING, BACKOFF or STOPPING: right after reconciled start,
or while one restarts), the command waits for them, at most --timeout, so that
"start; signal USR1; stop" runs in that order and the signal reaches a process
that is up; then it sends to whatever runs. FATAL and EXITED instances are not
waited for; --timeout 0 sends at once.

The command reaches the daemon that owns the program through its control
socket, .reconciled/daemons/PID.sock in the status directory (mode 0600: root or the
daemon's user). The socket takes signals and restarts of one instance only;
desired state changes only through the directory.`,
		Example: `  reconciled signal web HUP
  reconciled signal web-1 USR1
  reconciled signal web-0 worker-2 SIGTERM
  reconciled signal -l team=payments HUP`,
		Args:              usageArgs(cobra.MinimumNArgs(1)),
		ValidArgsFunction: completeInstances(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			targets, sig := args[:len(args)-1], args[len(args)-1]
			num, err := reconciler.ParseSignal(sig)
			if err != nil {
				return &usageError{Err: err}
			}
			if targets, err = sel.resolve(g, targets, false); err != nil {
				return err
			}
			sigName := strings.TrimPrefix(unix.SignalName(num), "SIG")
			if sigName == "" {
				sigName = strconv.Itoa(int(num))
			}
			stateDir := filepath.Join(g.statusDirOf(), reconciler.StateDirName)
			deadline := time.Now().Add(timeout)
			failed := false
			for _, arg := range targets {
				program, index := arg, -1
				if !sel.chosen() {
					program, index = resolveInstance(g, arg)
				}
				err := sendSignalWaiting(cmd.Context(), g, stateDir, program, index, sig, deadline, timeout)
				if errors.Is(err, reconciler.ErrNoDaemon) {
					return &exitError{Code: 1, Msg: err.Error()}
				}
				if err != nil {
					failed = true
					diag(cmd.ErrOrStderr(), "%s: %v", arg, err)
					continue
				}
				what := arg
				if index < 0 {
					what = "every instance of " + program
				}
				fmt.Fprintf(cmd.OutOrStdout(), "sent %s to %s\n", sigName, what)
			}
			if failed {
				return &exitError{Code: 1}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "wait at most this long for a running instance to signal")
	sel.addFlags(cmd)
	return cmd
}

// sendSignalWaiting sends sig through the daemon. While the manifest wants
// the instance (every instance when index < 0) running and the status shows
// it on its way to RUNNING (right after start, or restarting), it waits,
// until deadline (--timeout), so that the signal reaches a process that is
// up rather than one still starting; past the deadline it sends to whatever
// runs. It asks again while the daemon has nothing to signal yet.
func sendSignalWaiting(ctx context.Context, g *globalOptions, stateDir, program string, index int, sig string,
	deadline time.Time, timeout time.Duration) error {
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		replicas, wants := wantsInstance(g, program, index)
		expired := !time.Now().Before(deadline)
		if !wants || expired || instancesUp(g, program, index, replicas) {
			err := reconciler.SendSignal(ctx, stateDir, program, index, sig)
			retry := errors.Is(err, reconciler.ErrNotRunning) || errors.Is(err, reconciler.ErrNoProgram)
			switch {
			case retry && wants && expired:
				return fmt.Errorf("%w (none running within --timeout %v)", err, timeout)
			case !retry || !wants:
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a running instance: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// wantsInstance reports whether the manifest of program, valid now, wants
// instance index running (any instance when index < 0), and how many
// replicas it wants.
func wantsInstance(g *globalOptions, program string, index int) (replicas int, wants bool) {
	f, err := g.manifests().Resolve(program)
	if err != nil && !errors.Is(err, manifest.ErrSymlink) {
		return 0, false
	}
	data, err := manifest.ReadFile(f.Path)
	if err != nil {
		return 0, false
	}
	p, errs := spec.Parse(f.Path, data)
	if errs != nil {
		return 0, false
	}
	return p.Spec.Replicas, p.Spec.Desired == spec.DesiredRunning && p.Spec.Replicas > max(index, 0)
}

// instancesUp reports whether no instance that the signal is for is on its
// way to RUNNING: instance index of program, or, when index < 0, each of
// the first replicas. One that is STOPPED (not started yet, or waiting for
// its dependencies), STARTING, in BACKOFF or STOPPING (restarting), or not
// in the status yet, is on its way; RUNNING, FATAL and EXITED are not.
func instancesUp(g *globalOptions, program string, index, replicas int) bool {
	st, err := status.ReadFile(status.StatusPath(g.statusDirOf(), program))
	if err != nil {
		return false
	}
	states := map[int]string{}
	for _, in := range st.Status.Instances {
		states[in.Index] = in.State
		if in.State == string(reconciler.Running) && in.Pid <= 0 {
			states[in.Index] = "" // no process recorded yet: look again
		}
	}
	first, last := index, index
	if index < 0 {
		first, last = 0, replicas-1
	}
	for i := first; i <= last; i++ {
		switch reconciler.State(states[i]) {
		case reconciler.Running, reconciler.Fatal, reconciler.Exited:
		default:
			return false
		}
	}
	return true
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
