package reconciler

import "fmt"

// State is an instance's lifecycle state, supervisord's, shown upper-case.
type State string

// The instance states.
const (
	Stopped  State = "STOPPED"  // no process, none wanted (or not yet started)
	Starting State = "STARTING" // spawned (or being spawned), not yet up for startSeconds
	Running  State = "RUNNING"  // up for at least startSeconds
	Backoff  State = "BACKOFF"  // waiting for restartDelay before the next start
	Stopping State = "STOPPING" // stopSignal sent to the group; SIGKILL at stopTimeout
	Exited   State = "EXITED"   // ended and, by restartPolicy, not restarted
	Fatal    State = "FATAL"    // startRetries consecutive failed starts: given up
)

// transitions is the lifecycle. Anything else is a bug, reported as one.
//
//	STOPPED  -> STARTING              start wanted
//	STARTING -> RUNNING               up for startSeconds
//	STARTING -> BACKOFF | FATAL       exited early (a failed start), or spawn failed
//	STARTING -> EXITED                exited early with success under OnFailure or Never
//	RUNNING  -> STARTING | BACKOFF    exited, restart due now or after restartDelay
//	RUNNING  -> EXITED                exited, not restarted by restartPolicy
//	STARTING, RUNNING -> STOPPING     stop wanted (scale down, desired stopped, rollout)
//	STOPPING -> STOPPED               leader exited and the group is gone
//	STOPPING -> STARTING | BACKOFF | FATAL | EXITED
//	                                  stopped because the liveness probe
//	                                  failed: the restart policy decides
//	BACKOFF  -> STARTING              restartDelay elapsed
//	BACKOFF, EXITED, FATAL -> STOPPED stop wanted (no process to stop)
//	EXITED, FATAL -> STARTING         spec changed or restart asked for
var transitions = map[State][]State{
	Stopped:  {Starting},
	Starting: {Running, Backoff, Fatal, Exited, Stopping},
	Running:  {Starting, Backoff, Exited, Stopping},
	Backoff:  {Starting, Stopped},
	Stopping: {Stopped, Starting, Backoff, Fatal, Exited},
	Exited:   {Starting, Stopped},
	Fatal:    {Starting, Stopped},
}

// checkTransition reports an illegal transition as an error.
func checkTransition(from, to State) error {
	for _, s := range transitions[from] {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("illegal transition %s -> %s", from, to)
}

// hasProcess reports whether an instance in state s owns a live process.
func (s State) hasProcess() bool { return s == Starting || s == Running || s == Stopping }
