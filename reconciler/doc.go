// Package reconciler makes the processes on the machine match the manifests
// in a directory: it holds the loop, the per-program controllers and the
// daemon that wires them to the watcher (package watch), the process layer
// (package proc), the probes (package health) and the status writer
// (package status). docs/internals.md tells the whole path.
//
// The picture:
//
//	watch.Watcher (fsnotify, resync, SIGHUP) --"rescan"--> Reconciler.Run (loop.go)
//	    pass: scanner (scan.go) reads DIR -> spec.Parse -> Admit -> desired per name
//	    tell: the latest-wins slot of each program's mailbox (mailbox.go);
//	          a pass with nothing new tells nobody anything
//	program.run (program.go, one goroutine per program): takes its desired
//	    state and messages, asks the planner (plan.go) for each instance's
//	    target, feeds each instance's events to the lifecycle (lifecycle.go),
//	    whose effects the executor (execute.go) carries out, then publishes
//	    one status (observe.go) to the status sink.
//
// The controller's parts:
//   - plan (plan.go) is pure: (instances, desired) -> targets (scale and
//     rollout), tested as a table.
//   - transition (lifecycle.go) is pure: (life, event, world, now) -> (life,
//     effects). Effects are data: spawn, watch the exit, signal the group,
//     arm or cancel the timer, await the group, release, retire, start or
//     stop probes, emit an event. The phase table is in state.go; a move it
//     does not allow is returned as an error, and the executor logs it and
//     records an IllegalTransition event, leaving the instance as it was.
//   - the executor (execute.go) is the only code that holds an instance's
//     handles (process, timer, probe workers).
//   - the restart policy (decideExit in backoff.go) is pure too.
//
// Invariants:
//   - Level-triggered: a trigger only says "look again"; a pass re-reads the
//     directory, and passes are idempotent.
//   - One goroutine, the program's, owns the state of all its instances.
//     Process exits, timers and finished spawns come to it as messages
//     carrying a generation, so news about an earlier process or a cancelled
//     timer is recognised and dropped.
//   - An invalid manifest never replaces the last valid spec, and one
//     program's change never touches another program's instances.
//   - A daemon touches a program (starts, adopts, cleans up, writes its
//     status) only while it holds the program's lock, .reconciled/locks/NAME
//     (claims.go): several daemons may share a directory, each owning some
//     of its programs, and none ever acts on another's.
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
//     to it. It gates starts from STOPPED, and at shutdown a program holds
//     its instances until no dependent has a live one. The loop rejects
//     dependency cycles as invalid specs, so the graph of applied specs has
//     none. onLost (lost.go): the graph numbers each loss of a condition;
//     an instance whose process started before the latest loss of a stop
//     (restart) dependency is stopped (restarted once all is met).
//   - Facts travel typed: the exit policy (exitpolicy.go) reads the exit an
//     Exited event carries, never its message.
//
// Instance timeline (supervisord's states; the lifecycle's phases in
// brackets where one state has two):
//
//	STOPPED --start--> STARTING [spawning] --started--> STARTING [starting]
//	STARTING --startSeconds--> RUNNING
//	STARTING --exit, or the start failed--> BACKOFF --restartDelay (doubling)--> STARTING
//	                   ... startRetries failures in a row --> FATAL
//	RUNNING --exit--> STARTING | BACKOFF (Always, OnFailure on failure)
//	                | EXITED (Never, OnFailure on success)
//	STARTING|RUNNING --stop--> STOPPING [stopping] --leader exits--> STOPPING [draining]
//	                 --group empty--> STOPPED;  at stopTimeout: SIGKILL to the group
//	RUNNING --liveness fails--> STOPPING --group empty--> the restart policy decides
//	FATAL --manifest edited--> FATAL [fatal-retry] --next pass--> STARTING
//	STOPPED --dependencies not met--> STOPPED ("waiting for db: 1/2 ready")
//	STARTING|RUNNING --dependency lost, onLost stop--> STOPPING --> STOPPED (waiting)
//	RUNNING --dependency lost and met again, onLost restart--> STOPPING --> STOPPED --> STARTING
package reconciler
