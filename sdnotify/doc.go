// Package sdnotify tells systemd how the daemon is doing, with the notify
// protocol of sd_notify(3) as github.com/coreos/go-systemd/v22/daemon
// speaks it (one datagram to $NOTIFY_SOCKET per message):
//
//	READY=1            once the first full pass has started every instance
//	                   it desires (monitor.State's ReadyC), with STATUS=
//	STATUS=...         a one-line summary, on change, at most once a second
//	RELOADING=1        on SIGHUP, with MONOTONIC_USEC= (Type=notify-reload)
//	READY=1            once a pass that began after the SIGHUP has ended
//	STOPPING=1         when the daemon begins to stop everything
//	WATCHDOG=1         every WATCHDOG_USEC/2 while the loop answers
//
// Invariants:
//   - The watchdog is driven by the loop's own liveness: from READY=1 on,
//     each ping is sent only after the loop has answered
//     (reconciler.Reconciler.Alive) within a quarter of WATCHDOG_USEC, so a
//     wedged loop stops the pings and systemd restarts the daemon. Before
//     READY=1 (systemd's TimeoutStartSec watches the start) and after
//     STOPPING=1 (the loop has ended by design; the stop is bounded by the
//     instances' stop timeouts and TimeoutStopSec) the pings go unchecked.
//   - Nothing here blocks the daemon: the hooks (Reloading, Passed,
//     Stopping) only note what happened and wake the notifier's goroutine,
//     which does the sending.
//   - Time comes from a clock.Clock, so tests step it.
//   - The daemon keeps NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID to
//     itself: package reconciler leaves them out of every instance's
//     environment.
package sdnotify
