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
	crashes  int           // restarts since the delay was last reset, after this exit
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
	// crashes counts the restarts since the delay was last reset (an
	// instance that ran backoffResetAfter resets it), before this exit.
	crashes int
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
//     restarted under Always, and under OnFailure when the exit code is not
//     a success code.
//   - Every restart waits restartDelay doubled for each restart since the
//     delay was last reset (Kubernetes's CrashLoopBackOff), up to
//     maxRestartDelay; an instance that ran backoffResetAfter resets it.
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
		delay := backoffDelay(s.RestartDelay, s.MaxRestartDelay, max(failures, f.crashes+1))
		return exitDecision{next: Backoff, delay: delay, failures: failures, crashes: f.crashes + 1, reason: "BackOff",
			message: fmt.Sprintf("%s before startSeconds (%v): exited too quickly (see logs)", how, s.StartSeconds)}
	}
	if s.RestartDelay == 0 {
		return exitDecision{next: Starting, crashes: f.crashes + 1, reason: "Exited", message: how}
	}
	delay := backoffDelay(s.RestartDelay, s.MaxRestartDelay, f.crashes+1)
	d := exitDecision{next: Backoff, delay: delay, crashes: f.crashes + 1, reason: "Exited", message: how}
	if delay > s.RestartDelay {
		d.reason = "BackOff" // a crash loop: say so, as CrashLoopBackOff does
		d.message = fmt.Sprintf("%s, restart %d within backoffResetAfter (%v)", how, f.crashes+1, s.BackoffResetAfter)
	}
	return d
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
