// Package monitor shows the daemon to the outside while it runs: Prometheus
// metrics on /metrics, /healthz and /readyz (docs/reference.md §11), and what systemd's
// STATUS= and READY=1 are made of (package sdnotify sends them).
//
// State is fed by the daemon's observers (reconciler.Observers): a tee of the
// statuses and events the programs publish, a counter handed to each probe
// worker, a report after each pass of the loop. The metrics are built from
// State at scrape time by a gatherer of the daemon's own families (a
// prometheus.TransactionalGatherer, merged with a registry of the loop's
// passes and the standard collectors and served by promhttp); nothing is
// updated between scrapes beyond what the daemon publishes anyway.
//
// Invariants:
//   - A scrape never blocks a program's goroutine and takes no lock a
//     program holds: readers take no lock at all (copy-on-write maps and
//     atomics); writers take only State's own locks, and only when a
//     program, an event reason or a probe appears for the first time.
//   - A scrape costs O(instances) and reads no file: no status file, no
//     cgroup, nothing of an instance's in /proc (only client_golang's
//     standard process_* collector reads the daemon's own /proc/self).
//     Instance CPU and memory come from the last read, which runs in the
//     background: a scrape that finds the figures older than UsageEvery
//     (10s), or at least 1s old and lacking an instance that has a process,
//     starts one for the scrapes after it. One read at a time, none while
//     nobody scrapes. The figures shown are at most UsageEvery plus the
//     time since the previous scrape old (plus a read's own duration).
//   - Labels are program, replica (the instance's index: "instance" is
//     Prometheus's own label for the scrape target) and fixed vocabularies
//     (state, phase, reason, ...): never an environment value or a message.
//   - Ready latches once the programs of the first full pass have each
//     started every instance they desire (not waiting for readiness probes)
//     and stays so until the daemon begins to stop.
package monitor
