// Package status reads and writes the files in which the daemon reports observed
// state: NAME.status.yaml (docs/reference.md §4) and NAME.events.jsonl (docs/reference.md §5).
//
// It knows the file formats, not process logic: the reconciler decides what a
// status says, and this package puts it on disk so that readers (the CLI, an
// operator's cat, a watcher) never see half a file.
//
// Invariants:
//
//   - A status file is replaced atomically, by the project's one atomic writer
//     (internal/atomicfile): the content goes to a temp file whose
//     name starts with "." in the same directory, is fsynced, renamed over the
//     target, and the directory is fsynced. A reader sees the old or the new
//     content, never a mix, and a directory watcher that ignores dot files never
//     sees the temp file.
//   - A status file is rewritten only when its content changes. updatedAt is not
//     part of that comparison, so on disk it keeps the time of the last real change.
//   - Times are written in UTC, RFC 3339 with millisecond precision
//     ("2026-11-22T10:00:01.123Z"); durations as Go duration strings rounded to the
//     millisecond ("2.5s"). What is written parses back to the same value, but
//     for a message longer than MaxMessage (32 KiB), which is cut.
//   - Events are only appended, one compact JSON object per line, in the order they
//     were queued per program, and survive daemon restarts. A file that would grow
//     past its limit (1 MiB by default) is first rotated to NAME.events.jsonl.1,
//     replacing an older one, so a program costs at most about twice the limit.
//   - Writer coalesces: the latest status per program wins, and a change reaches the
//     disk at most Interval after it was reported (100ms by default, always well
//     under the 1s promised in docs/reference.md), however many changes come in between.
//     When nothing changes, Writer does no work at all.
//   - A write that failed (a full or read-only file system) is retried on its
//     own, after a back-off of 100ms doubling to 5s, until it succeeds, so
//     that no status file stays stale once the fault clears; a lasting fault
//     is logged once, and its end once.
//   - The file names are the daemon's, whatever holds them: nothing here
//     reads from, writes through or waits on anything but a regular file
//     (internal/regfile). A FIFO, a socket, a device or a symbolic link
//     named like a status file is replaced by the atomic rename, and named
//     like an events file is replaced by an empty events file (logged);
//     readers refuse it (errors.Is regfile.ErrNotRegular) without blocking.
//     No read is unbounded: a status file is read up to MaxStatusFileSize, an
//     events file's last MaxEventsRead bytes.
//   - Parse reads a file in exactly Marshal's layout with a line decoder and
//     anything else with the generic YAML decoder; the line decoder declines
//     what it does not know rather than guess, so both read a file alike.
//   - Writer encodes a program's status incrementally: the lines of an
//     instance equal to the one of the same index in the last status are
//     copied, not encoded again; the bytes are those Marshal writes.
//   - WriteJSON writes the bytes json.MarshalIndent writes.
//   - Nothing here holds environment values: the types have no field for them.
//   - There is no package state: every dependency (directory, logger, clock) is
//     passed in by the caller.
//
// docs/internals.md tells how it fits in: see "Status and events".
package status
