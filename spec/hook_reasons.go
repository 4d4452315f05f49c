package spec

import (
	"fmt"
	"strings"
)

// The reasons of the events the hooks runner emits about its own hooks.
const (
	// ReasonHookFailed is a hook that failed: a non-zero exit, a kill at its
	// timeout, a command that did not start, an HTTP error or status.
	ReasonHookFailed = "HookFailed"
	// ReasonHooksDropped reports, at most once a window, how many hook runs
	// were dropped because a newer event of the same reason and instance
	// took their place while every slot was busy.
	ReasonHooksDropped = "HooksDropped"
)

// knownReasons returns the event reasons a hook may run on, those of
// docs/reference.md §5 and §8-§10, in the order of the reference's
// table. HookFailed and HooksDropped are not among them.
func knownReasons() []string { // the reasons a hook may run on
	return []string{
		"Started", "Ready", "NotReady", "Unhealthy", "Exited", "BackOff", "Fatal",
		"Stopping", "Killed", "OOMKilled", "Stopped", "Scaled", "SpecChanged",
		"SpecInvalid", "SpecWarning", "DependencyLost", "PreStopFailed", "Deleted", "Signalled", "LogWriteFailed", "LogWriteResumed",
		"LogDropped", "IllegalTransition", "Flapping", "Stable", "ResourceLimit",
	}
}

func isKnownReason(r string) bool {
	for _, k := range knownReasons() {
		if k == r {
			return true
		}
	}
	return false
}

// suggestReason names the known reason that r differs from only in case, or
// lists them all.
func suggestReason(r string) string {
	for _, k := range knownReasons() {
		if strings.EqualFold(k, r) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return " (known: " + strings.Join(knownReasons(), ", ") + ")"
}
