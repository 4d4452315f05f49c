package change

import (
	"fmt"
	"strings"
	"time"

	"github.com/reconciled/reconciled/manifest"
	"github.com/reconciled/reconciled/spec"
	"github.com/reconciled/reconciled/status"
)

// Kind is the state a Target waits for.
type Kind int

// The kinds of target.
const (
	Ready     Kind = iota // every desired instance ready
	Stopped               // no instance has a process
	Deleted               // the status file is gone
	Restarted             // instance Index has a new process, ready
)

// Target is one program and the state a change should bring it to.
type Target struct {
	Name string
	Kind Kind
	// Hash, when set, must be the status's specHash and every instance's;
	// Alt, when set, is as good (manifest.Hashes: the owner rule).
	Hash, Alt string
	// Replicas is the count to be ready (Ready); -1: the status's.
	Replicas int
	// Since: a SpecValid=False condition older than this is not ours.
	Since time.Time
	// Final, when set, is what to say once the target is reached ("NAME:
	// started", supervisorctl's words), unless the progress said it.
	Final string
	// Index and Before (Restarted): the instance, and the start time of the
	// process it had when the restart was asked (nil: none).
	Index  int
	Before *time.Time
}

// Applied is the target of a change that wrote p, the manifest at path:
// its spec hash everywhere and its replicas ready, or, for a stopped
// program, nothing running.
func Applied(r manifest.Result, since time.Time) Target {
	t := Target{Name: r.Name, Kind: Ready, Replicas: r.Program.Spec.Replicas, Since: since}
	t.SetHash(r.Path, r.Program)
	if r.Program.Spec.Desired == spec.DesiredStopped {
		t.Kind = Stopped
	}
	return t
}

// SetHash makes the target the spec hash of p, the manifest at path.
func (t *Target) SetHash(path string, p *spec.Program) {
	hashes := manifest.Hashes(path, p)
	t.Hash = hashes[0]
	if len(hashes) > 1 {
		t.Alt = hashes[1]
	}
}

// Label names the target in progress lines: the program, or NAME-i.
func (t Target) Label() string {
	if t.Kind == Restarted {
		return fmt.Sprintf("%s-%d", t.Name, t.Index)
	}
	return t.Name
}

// is reports whether h is the target's spec hash (any, when it has none).
func (t Target) is(h string) bool {
	return t.Hash == "" || h == t.Hash || (t.Alt != "" && h == t.Alt)
}

// Live reports whether the instance has (or is getting) a process.
func Live(in status.Instance) bool {
	switch in.State {
	case "STOPPED", "EXITED", "FATAL":
		return false
	}
	return true
}

// Check says whether the target is reached in st (exists false: no status
// file), with a progress line ("2/3 ready"), or a failure that ends the
// wait (an instance FATAL, the manifest rejected).
func (t Target) Check(st status.ProgramStatus, exists bool) (done bool, progress string, fail error) {
	s := st.Status
	if t.Kind == Deleted {
		if !exists {
			return true, "deleted", nil
		}
		return false, fmt.Sprintf("deleting, %d running", liveCount(s)), nil
	}
	if !exists {
		if t.Kind == Stopped && t.Hash == "" {
			return true, "stopped", nil
		}
		return false, "waiting for the daemon to report", nil
	}
	if c, ok := status.FindCondition(s.Conditions, status.ConditionSpecValid); ok &&
		c.Status == status.ConditionFalse && !c.LastTransitionTime.Before(t.Since.Truncate(time.Millisecond)) {
		return false, "", fmt.Errorf("the daemon rejected the manifest: %s", firstLine(c.Message))
	}
	if !t.is(s.SpecHash) {
		return false, "waiting for the daemon to pick up the change", nil
	}
	switch t.Kind {
	case Restarted:
		return t.checkRestarted(s)
	case Stopped:
		n := liveCount(s)
		if n == 0 && (t.Hash == "" || s.Desired == string(spec.DesiredStopped)) {
			return true, "stopped", nil
		}
		return false, fmt.Sprintf("stopping, %d running", n), nil
	}
	want := t.Replicas
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

// checkRestarted follows instance t.Index until a process other than the
// one it had when asked is ready. FATAL fails the wait only once a new
// process was started: the status may not show the restart of a FATAL
// instance yet.
func (t Target) checkRestarted(s status.Status) (done bool, progress string, fail error) {
	for _, in := range s.Instances {
		if in.Index != t.Index {
			continue
		}
		fresh := in.StartedAt != nil && (t.Before == nil || !in.StartedAt.Equal(*t.Before))
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

func liveCount(s status.Status) int {
	n := 0
	for _, in := range s.Instances {
		if Live(in) {
			n++
		}
	}
	return n
}

// firstLine is the first line of s, with " ..." when more follow.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
