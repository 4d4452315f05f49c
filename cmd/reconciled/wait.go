package main

// Waiting: follow status files until the daemon has carried out a change.
// Used by --wait of every changing verb and by `reconciled wait`.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/reconciler"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// waitPoll is how often a waiter reads the status files. They are small and
// written at most every 100ms per program.
const waitPoll = 50 * time.Millisecond

type waitKind int

const (
	waitReady     waitKind = iota // every desired instance ready
	waitStopped                   // no instance has a process
	waitDeleted                   // the status file is gone
	waitRestarted                 // instance index has a new process, ready
)

// waitTarget is one program and the state to wait for.
type waitTarget struct {
	name string
	kind waitKind
	// hash, when set, must be the status's specHash and every instance's;
	// alt, when set, is as good (manifest.Hashes: the owner rule).
	hash, alt string
	// replicas is the count to be ready (waitReady); -1: the status's.
	replicas int
	// since: a SpecValid=False condition older than this is not ours.
	since time.Time
	// final, when set, is said once the target is reached ("NAME: started",
	// supervisorctl's words), unless the last progress line said it.
	final string
	// index and before (waitRestarted): the instance, and the start time of
	// the process it had when the restart was asked (nil: none).
	index  int
	before *time.Time
}

// label names the target in progress lines: the program, or NAME-i.
func (t waitTarget) label() string {
	if t.kind == waitRestarted {
		return fmt.Sprintf("%s-%d", t.name, t.index)
	}
	return t.name
}

// appliedTarget waits for the daemon to have applied p, the manifest at
// path: its spec hash everywhere and replicas ready, or everything stopped.
func appliedTarget(name, path string, p *spec.Program, since time.Time) waitTarget {
	t := waitTarget{name: name, kind: waitReady, replicas: p.Spec.Replicas, since: since}
	t.setHash(path, p)
	if p.Spec.Desired == spec.DesiredStopped {
		t.kind = waitStopped
	}
	return t
}

// setHash makes the target the spec hash of p, the manifest at path.
func (t *waitTarget) setHash(path string, p *spec.Program) {
	hashes := manifest.Hashes(path, p)
	t.hash = hashes[0]
	if len(hashes) > 1 {
		t.alt = hashes[1]
	}
}

// is reports whether h is the target's spec hash (any, when it has none).
func (t waitTarget) is(h string) bool {
	return t.hash == "" || h == t.hash || (t.alt != "" && h == t.alt)
}

// live reports whether the instance has (or is getting) a process.
func live(in status.Instance) bool {
	switch in.State {
	case "STOPPED", "EXITED", "FATAL":
		return false
	}
	return true
}

// check says whether the target is reached in st (exists false: no status
// file), a progress line, and a failure that ends the wait.
func (t waitTarget) check(st status.ProgramStatus, exists bool) (done bool, progress string, fail error) {
	s := st.Status
	if t.kind == waitDeleted {
		if !exists {
			return true, "deleted", nil
		}
		n := 0
		for _, in := range s.Instances {
			if live(in) {
				n++
			}
		}
		return false, fmt.Sprintf("deleting, %d running", n), nil
	}
	if !exists {
		if t.kind == waitStopped && t.hash == "" {
			return true, "stopped", nil
		}
		return false, "waiting for the daemon to report", nil
	}
	if c, ok := status.FindCondition(s.Conditions, status.ConditionSpecValid); ok &&
		c.Status == status.ConditionFalse && !c.LastTransitionTime.Before(t.since.Truncate(time.Millisecond)) {
		return false, "", fmt.Errorf("the daemon rejected the manifest: %s", firstLine(c.Message))
	}
	if !t.is(s.SpecHash) {
		return false, "waiting for the daemon to pick up the change", nil
	}
	switch t.kind {
	case waitRestarted:
		return t.checkRestarted(s)
	case waitStopped:
		n := 0
		for _, in := range s.Instances {
			if live(in) {
				n++
			}
		}
		if n == 0 && (t.hash == "" || s.Desired == string(spec.DesiredStopped)) {
			return true, "stopped", nil
		}
		return false, fmt.Sprintf("stopping, %d running", n), nil
	}
	want := t.replicas
	if want < 0 {
		want = s.Replicas
	}
	for _, in := range s.Instances {
		if in.State == "FATAL" && t.is(in.SpecHash) {
			msg := strings.TrimSpace(in.Message)
			if e := in.LastExit; msg == "" && e != nil {
				msg = fmt.Sprintf("exited with code %d", e.Code)
				if e.Signal != "" {
					msg = "killed by signal " + e.Signal
				}
			}
			return false, "", fmt.Errorf("%s is FATAL: %s (reconciled logs %s --stderr)", in.Name, msg, in.Name)
		}
	}
	if s.Desired != string(spec.DesiredRunning) {
		return false, "waiting for the daemon to pick up the change", nil
	}
	ready, updated, complete := 0, 0, 0
	for _, in := range s.Instances {
		if t.is(in.SpecHash) {
			updated++
			if in.Ready {
				ready++
			} else if in.State == "EXITED" && s.Phase == "Completed" {
				complete++ // a one-shot job that completed
			}
		}
	}
	progress = fmt.Sprintf("%d/%d ready", ready, want)
	if outdated := len(s.Instances) - updated; outdated > 0 {
		progress += fmt.Sprintf(", %d/%d updated", updated, want)
	}
	if complete > 0 {
		progress += fmt.Sprintf(", %d completed", complete)
	}
	done = s.Replicas == want && len(s.Instances) == want && ready+complete == want
	return done, progress, nil
}

// checkRestarted follows instance t.index until a process other than the
// one it had when asked is ready. FATAL fails the wait only once a new
// process was started: the status may not show the restart of a FATAL
// instance yet.
func (t waitTarget) checkRestarted(s status.Status) (done bool, progress string, fail error) {
	for _, in := range s.Instances {
		if in.Index != t.index {
			continue
		}
		fresh := in.StartedAt != nil && (t.before == nil || !in.StartedAt.Equal(*t.before))
		switch {
		case !fresh:
			return false, "waiting for the new process", nil
		case in.State == "FATAL":
			return false, "", fmt.Errorf("%s is FATAL: %s (reconciled logs %s --stderr)", in.Name, strings.TrimSpace(in.Message), in.Name)
		case in.Ready:
			return true, "restarted", nil
		}
		return false, strings.ToLower(in.State) + ", not ready yet", nil
	}
	return false, "waiting for the instance", nil
}

// waitFor follows the status files of the targets until each is reached,
// printing a progress line whenever one changes. It fails (exit 1) at the
// timeout, or at the first FATAL instance or rejected manifest.
func waitFor(ctx context.Context, out, errOut io.Writer, g *globalOptions, targets []waitTarget, timeout time.Duration) error {
	if len(targets) == 0 {
		return nil
	}
	dir := g.statusDirOf()
	if held, _ := reconciler.Held(filepath.Join(dir, reconciler.StateDirName)); !held {
		fmt.Fprintf(errOut, "no daemon holds %s: waiting for one to start\n", g.dir)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	last := map[string]string{}
	pending := targets
	for {
		var still []waitTarget
		for _, t := range pending {
			st, err := status.ReadFile(status.StatusPath(dir, t.name))
			exists := !errors.Is(err, fs.ErrNotExist)
			if err != nil && exists {
				still = append(still, t) // unreadable for a moment: look again
				continue
			}
			done, progress, fail := t.check(st, exists)
			if fail != nil {
				return &exitError{code: 1, msg: t.label() + ": " + fail.Error()}
			}
			key := t.label()
			if progress != last[key] {
				fmt.Fprintf(out, "%s: %s\n", key, progress)
				last[key] = progress
			}
			if !done {
				still = append(still, t)
			} else if t.final != "" && t.final != progress {
				fmt.Fprintf(out, "%s: %s\n", key, t.final)
			}
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				var names []string
				for _, t := range pending {
					names = append(names, t.label()+" ("+last[t.label()]+")")
				}
				return &exitError{code: 1, msg: fmt.Sprintf("timed out after %v waiting for %s", timeout, strings.Join(names, ", "))}
			}
			return &exitError{code: 1, msg: "interrupted"}
		case <-tick.C:
		}
	}
}

func newWaitCommand(g *globalOptions) *cobra.Command {
	var forState string
	var timeout time.Duration
	sel := &programSelection{}
	cmd := &cobra.Command{
		Use:   "wait NAME... | -l SELECTOR | --all  --for ready|stopped|deleted",
		Short: "Block until programs are ready, stopped or deleted",
		Long: `Block until the status files show the state, for scripts. "ready" waits for the
manifest as it is now (its spec hash) to run everywhere with every replica ready;
"stopped" for no instance to have a process; "deleted" for the daemon to have
removed the program. Exits 0 when reached, 1 at the timeout or when an instance
is FATAL (with its message).`,
		Example: `  cp worker.yaml /etc/reconciled/ && reconciled wait worker --for ready
  reconciled wait web worker --for ready --timeout 5m
  rm /etc/reconciled/old.yaml && reconciled wait old --for deleted
  reconciled wait -l team=payments --for ready`,
		Args:              usageArgs(cobra.ArbitraryArgs),
		ValidArgsFunction: completePrograms(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			var kind waitKind
			switch forState {
			case "ready":
				kind = waitReady
			case "stopped":
				kind = waitStopped
			case "deleted":
				kind = waitDeleted
			default:
				return &usageError{fmt.Errorf("--for: %q is not one of ready, stopped, deleted", forState)}
			}
			args, err := sel.resolve(g, args, false)
			if err != nil {
				return err
			}
			since := time.Now()
			var targets []waitTarget
			for _, name := range args {
				t := waitTarget{name: name, kind: kind, replicas: -1, since: since}
				if kind == waitReady {
					// Wait for the manifest as it is now, when it is valid.
					if f, data, err := g.manifests().Read(name); err == nil {
						if p, errs := spec.Parse(f.Path, data); errs == nil {
							t.setHash(f.Path, p)
							t.replicas = p.Spec.Replicas
						}
					}
				}
				targets = append(targets, t)
			}
			return waitFor(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), g, targets, timeout)
		},
	}
	cmd.Flags().StringVar(&forState, "for", "ready", "the state to wait for: ready, stopped or deleted")
	cmd.Flags().DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long (exit 1)")
	sel.addFlags(cmd)
	return cmd
}
