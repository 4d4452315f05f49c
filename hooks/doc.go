// Package hooks runs a program's event hooks (spec.hooks, docs/reference.md
// "Hooks"): an exec command or an HTTP POST when an event of a listed reason
// happens: a Runner per program that the reconciler hands events to. The
// hook configuration (spec.Hook and its validation) is package spec's; the
// names here are aliases.
//
// The face:
//
//	config   Hook, ExecAction, HTTPPostAction, DefaultTimeout (spec's)
//	run      New(ctx, Options) -> *Runner; Runner.Fire(event, InstanceContext);
//	         Runner.SetHooks (an edit: hooks are not in the spec hash);
//	         Runner.Close(ctx) (drain until ctx ends, then kill, then wait)
//	events   HookFailed (each failed run), HooksDropped (at most once per
//	         DroppedWindow), through Options.Emit
//
// A run, as the Runner sees it:
//
//	Fire ──slot free──> running ──exit 0 / 2xx─────────────> done
//	  │                    ├──exit≠0 / start error / HTTP error or status─> HookFailed
//	  │                    └──timeout: SIGKILL to the group / abandon──────> HookFailed
//	  └──4 running──> waiting (one per hook, reason and instance; a newer
//	                  event replaces it: the older one is counted dropped)
//	                  └──a slot frees──> running
//
// Invariants:
//
//   - Fire never blocks and never emits: it takes the Runner's lock for a
//     map lookup and an append or a goroutine start. A hook never delays the
//     reconcile loop, a restart, a stop or a status write.
//   - At most MaxRunning hooks of a program run at once. Nothing waits while a
//     slot is free: a worker takes the oldest waiting run before it gives its
//     slot back. What waits is bounded by hooks x reasons x instances.
//   - Every run ends within its timeout plus a bounded grace: its process
//     group is SIGKILLed at the timeout, and after the leader exits too, so
//     that nothing a hook leaves behind outlives it.
//   - Exec hooks start through the daemon's proc.Starter, never os/exec: the
//     Starter's reaper would take an os/exec child's exit status.
//   - A hook's output goes to a pipe the Runner reads (the last OutputTail
//     bytes are kept for HookFailed), never to the instance's log. Messages
//     name commands and URLs as written, not expanded, and never hold an
//     environment value or header value of the Runner's making.
//   - Drops are counted, not lost silently: one HooksDropped per program at
//     most every DroppedWindow, and a last one at Close.
//   - Every goroutine ends by Close: the workers when their run and the
//     waiting ones are done or killed, the capture goroutine at the pipe's
//     EOF (bounded after the kill).
package hooks
