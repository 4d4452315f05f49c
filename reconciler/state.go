package reconciler

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

// phase is the lifecycle's own state: a State, told apart where the same
// State means different things to the controller.
type phase uint8

const (
	phStopped    phase = iota
	phSpawning         // STARTING: the Start call is in flight, no process yet
	phStarting         // STARTING: up, not yet for startSeconds
	phRunning          // RUNNING
	phBackoff          // BACKOFF
	phStopping         // STOPPING: stop signal sent, the leader is alive
	phDraining         // STOPPING: the leader exited, its group is not empty yet
	phExited           // EXITED
	phFatal            // FATAL
	phFatalRetry       // FATAL, and the manifest was edited since: start again
)

var phaseStates = [...]State{
	phStopped: Stopped, phSpawning: Starting, phStarting: Starting, phRunning: Running,
	phBackoff: Backoff, phStopping: Stopping, phDraining: Stopping, phExited: Exited,
	phFatal: Fatal, phFatalRetry: Fatal,
}

var phaseNames = [...]string{
	phStopped: "stopped", phSpawning: "spawning", phStarting: "starting", phRunning: "running",
	phBackoff: "backoff", phStopping: "stopping", phDraining: "draining", phExited: "exited",
	phFatal: "fatal", phFatalRetry: "fatal-retry",
}

func (p phase) state() State    { return phaseStates[p] }
func (p phase) String() string  { return phaseNames[p] }
func (p phase) probing() bool   { return p == phStarting || p == phRunning }
func (p phase) hasLeader() bool { return p == phStarting || p == phRunning || p == phStopping }

// live reports whether an instance in phase p has, or is getting, a process.
func (p phase) live() bool {
	return p == phSpawning || p == phStarting || p == phRunning || p == phStopping || p == phDraining
}

// moves is the lifecycle's phase table. Anything else is a bug, reported
// as one, and the instance keeps its phase.
//
//	stopped      -> spawning                      start wanted
//	spawning     -> starting | running            started (running: startSeconds 0)
//	spawning     -> backoff | fatal | exited      the start failed
//	starting     -> running                       up for startSeconds
//	starting     -> backoff | fatal | exited      exited early (a failed start)
//	running      -> spawning | backoff | exited   exited: restart now, later, or not
//	starting, running -> stopping                 stop wanted, or liveness failed
//	stopping     -> draining                      the leader exited
//	draining     -> stopped                       the group is gone
//	draining     -> spawning | backoff | fatal | exited
//	                                              gone after a liveness failure:
//	                                              the restart policy decides
//	backoff      -> spawning | stopped            restartDelay elapsed; stop wanted
//	exited, fatal, fatal-retry -> spawning | stopped
//	                                              spec changed or retried; stop wanted
//	fatal        -> fatal-retry                   the manifest was edited
var moves = map[phase][]phase{
	phStopped:    {phSpawning},
	phSpawning:   {phStarting, phRunning, phBackoff, phFatal, phExited},
	phStarting:   {phRunning, phBackoff, phFatal, phExited, phStopping},
	phRunning:    {phSpawning, phBackoff, phExited, phStopping},
	phStopping:   {phDraining},
	phDraining:   {phStopped, phSpawning, phBackoff, phFatal, phExited},
	phBackoff:    {phSpawning, phStopped},
	phExited:     {phSpawning, phStopped},
	phFatal:      {phSpawning, phStopped, phFatalRetry},
	phFatalRetry: {phSpawning, phStopped},
}

func allowed(from, to phase) bool {
	for _, p := range moves[from] {
		if p == to {
			return true
		}
	}
	return false
}
