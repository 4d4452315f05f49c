// Package reconciler makes the processes on the machine match the manifests
// in a directory: it holds the loop, the per-program controllers, the
// restart policy and the daemon that wires them to the watcher (package
// watch), the process layer (package proc) and the status writer.
//
// The picture:
//
//	watch.Watcher (fsnotify, resync, SIGHUP) --"rescan"--> Reconciler.Run
//	    pass: scanner reads DIR -> spec.Parse -> desired per program name
//	    tell: latest-wins slot of each program (a pass with nothing new
//	          tells nobody anything)
//	program.run (one goroutine per program): applies its queued messages,
//	    sets every instance's target (scale, rollout), drives each instance
//	    one step, then publishes one status to the status sink.
//
// Invariants:
//   - Level-triggered: a trigger only says "look again"; a pass re-reads the
//     directory, and passes are idempotent.
//   - One goroutine, the program's, owns the state of all its instances.
//     Process exits, timers and finished spawns come to it as messages
//     carrying a generation, so news about an earlier process or a cancelled
//     timer is recognised and dropped. The lifecycle is the transition table
//     in state.go; an illegal transition is logged as a bug.
//   - The restart policy is a pure function (decideExit in backoff.go).
//   - An invalid manifest never replaces the last valid spec, and one
//     program's change never touches another program's instances.
//   - A process group is signalled only while its leader is unreaped (see
//     package proc), so a signal never reaches a reused pid.
//   - Every goroutine has an owner that waits for it: programs wait for their
//     spawns, waiters and timers; RunDaemon waits for the programs and the
//     helpers. On shutdown every program stops its instances in parallel,
//     each honouring its stopTimeout.
//   - Time comes from a Clock and processes from a ProcessStarter, so the
//     controller is tested with a fake clock and fake processes.
//   - Probes (probes.go) belong to one process of one instance: built before
//     it starts, run by health.Run workers from its spawn until it leaves
//     STARTING/RUNNING, their verdicts coming back as messages like exits.
//     ready = RUNNING && readiness passing; Ready/NotReady events mark
//     changes; a liveness failure stops the instance and starts it again.
//   - dependsOn (depends.go): programs share a depGraph of counts (want,
//     started, ready, completed, alive); a change wakes the programs linked
//     to it. It gates only starts from STOPPED, and at shutdown a program
//     holds its instances until no dependent has a live one. The loop rejects
//     dependency cycles as invalid specs, so the graph of applied specs has
//     none.
//
// Instance timeline (supervisord's states):
//
//	STOPPED --start--> STARTING --startSeconds--> RUNNING
//	STARTING --exit--> BACKOFF --restartDelay (doubling)--> STARTING
//	                   ... startRetries failures in a row --> FATAL
//	RUNNING --exit--> STARTING | BACKOFF (Always, OnFailure on failure)
//	                | EXITED (Never, OnFailure on success)
//	STARTING|RUNNING --stop--> STOPPING --leader gone and group empty--> STOPPED
//	                           STOPPING --stopTimeout--> SIGKILL to the group
//	RUNNING --liveness fails--> STOPPING --> STOPPED --> STARTING (restarts+1)
//	STOPPED --dependencies not met--> STOPPED ("waiting for db: 1/2 ready")
package reconciler
