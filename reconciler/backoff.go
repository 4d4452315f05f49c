package reconciler

import (
	"fmt"
	"slices"
	"time"

	"github.com/reconciled/reconciled/spec"
)

// exitDecision is what follows a process exit that nobody asked for.
type exitDecision struct {
	next     State         // Starting (now), Backoff (after delay), Exited or Fatal
	delay    time.Duration // for Backoff
	failures int           // consecutive failed starts after this exit
	reason   string        // event reason: Exited, BackOff or Fatal
	message  string        // for the status and the event
}

// exitFacts describe one exit.
type exitFacts struct {
	code     int // -1 when killed by a signal
	signal   string
	ranFor   time.Duration
	started  bool // reached RUNNING (up for startSeconds)
	failures int  // consecutive failed starts before this exit
}

// decideExit is the restart policy, pure: (settings, exit) -> next state.
//
//   - An exit before startSeconds is a failed start, retried with a delay of
//     restartDelay doubled for each consecutive failure up to maxRestartDelay;
//     at startRetries consecutive failures (0 = never) the instance is FATAL.
//     Under OnFailure and Never, an early exit with a success code is a
//     completion (one-shot jobs), not a failure.
//   - Under Never nothing is restarted: every exit ends in EXITED.
//   - After a successful start the failure count is reset, and the exit is
//     restarted after restartDelay under Always, and under OnFailure when the
//     exit code is not a success code.
func decideExit(s *spec.ProgramSpec, f exitFacts) exitDecision {
	success := f.signal == "" && slices.Contains(s.SuccessExitCodes, f.code)
	how := describeExit(f.code, f.signal)
	if s.RestartPolicy == spec.RestartNever || (s.RestartPolicy == spec.RestartOnFailure && success) {
		return exitDecision{next: Exited, reason: "Exited", message: how}
	}
	if !f.started {
		failures := f.failures + 1
		if s.StartRetries > 0 && failures >= s.StartRetries {
			return exitDecision{next: Fatal, failures: failures, reason: "Fatal",
				message: fmt.Sprintf("Exited too quickly (process log may have details): %s %d times in a row before startSeconds (%v): giving up", exitedOrFailed(how), failures, s.StartSeconds)}
		}
		delay := backoffDelay(s.RestartDelay, s.MaxRestartDelay, failures)
		return exitDecision{next: Backoff, delay: delay, failures: failures, reason: "BackOff",
			message: fmt.Sprintf("%s before startSeconds (%v): exited too quickly (see logs)", how, s.StartSeconds)}
	}
	if s.RestartDelay == 0 {
		return exitDecision{next: Starting, reason: "Exited", message: how}
	}
	return exitDecision{next: Backoff, delay: s.RestartDelay, reason: "Exited", message: how}
}

// backoffDelay is restartDelay doubled for each consecutive failure after the
// first, capped at maxDelay.
func backoffDelay(base, maxDelay time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

func describeExit(code int, signal string) string {
	if signal != "" {
		return "killed by signal " + signal
	}
	return fmt.Sprintf("exited with code %d", code)
}

func exitedOrFailed(how string) string {
	if how == "" {
		return "failed"
	}
	return how
}
