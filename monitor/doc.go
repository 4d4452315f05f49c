// Package monitor shows the daemon to the outside while it runs: Prometheus
// metrics on /metrics, /healthz and /readyz (docs/reference.md §11), and what systemd's
// STATUS= and READY=1 are made of (package sdnotify sends them).
//
// State is fed by the daemon's observers (reconciler.Observers): a tee of the
// statuses and events the programs publish, a counter handed to each probe
// worker, a report after each pass of the loop. The metrics are built from
// State at scrape time by one custom collector; nothing is updated between
// scrapes beyond what the daemon publishes anyway.
//
// Invariants:
//   - A scrape never blocks a program's goroutine and takes no lock a
//     program holds: readers take no lock at all (copy-on-write maps and
//     atomics); writers take only State's own locks, and only when a
//     program, an event reason or a probe appears for the first time.
//   - A scrape costs O(instances). It reads no status file. With usage on
//     (the default) it reads each running instance's CPU and memory through
//     package usage (cgroup files, or one scan of /proc), at most every 10s:
//     a scrape sooner shows the figures of the last read again.
//   - Labels are program, replica (the instance's index: "instance" is
//     Prometheus's own label for the scrape target) and fixed vocabularies
//     (state, phase, reason, ...): never an environment value or a message.
//   - Ready latches once the programs of the first full pass have each
//     started every instance they desire (not waiting for readiness probes)
//     and stays so until the daemon begins to stop.
package monitor
